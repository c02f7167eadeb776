"""SecantusDB in its own process, as a database is on AWS: its threads then do not compete
with the measured handler for the GIL. Prints the URI, serves until stdin closes."""

from __future__ import annotations

import sys

from smartnote.local.services import MongoService

if __name__ == "__main__":
    service = MongoService(":memory:")
    service.start()
    print(service.url, flush=True)
    sys.stdin.read()
    service.stop()
