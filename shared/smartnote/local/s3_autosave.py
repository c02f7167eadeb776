"""The local stack's S3 snapshot kept up to date while the stack runs, so that one killed without
a clean stop (kill -9, a crash, a power cut) loses only its last second or so of S3 writes, as
MongoDB and SQLite keep theirs, rather than every write since its last clean stop."""

from __future__ import annotations

import logging
import threading
from typing import Any

from smartnote.local.s3_snapshot import S3Snapshot

logger = logging.getLogger("smartnote.local.s3_autosave")

# How long an S3 write may wait to be saved. A save that finds nothing changed costs about a
# millisecond per 10,000 objects and no request, so the stack can afford to look this often.
AUTOSAVE_PERIOD = 1.0


class S3Autosave:
    """Saves `snapshot` every `period` seconds on a thread of its own (a save writes only when
    an object changed). A save that fails is logged and tried again at the next period; the
    snapshot on disk stays whole meanwhile."""

    def __init__(self, snapshot: S3Snapshot, s3: Any, period: float = AUTOSAVE_PERIOD) -> None:
        self.snapshot = snapshot
        self.period = period
        self._s3 = s3
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="s3-autosave", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop saving, once a save under way is done; the final save is the caller's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._save()

    def _save(self) -> None:
        try:
            self.snapshot.save(self._s3)
        except Exception:  # moto or the disk; once per run of failures, not every second
            if not self._failing:
                logger.exception(
                    "could not save the S3 objects to %s; trying again every %g s",
                    self.snapshot.directory,
                    self.period,
                )
            self._failing = True
            return
        if self._failing:
            logger.info("the S3 objects are saved to %s again", self.snapshot.directory)
            self._failing = False
