"""mongoeco's wire server (in memory) in its own process: run by a Python >= 3.13 venv that
has `mongoeco[wire]`, not by ours. Prints the URI, serves until stdin closes."""

from __future__ import annotations

import asyncio
import sys

from mongoeco.wire import AsyncMongoEcoProxyServer


async def main() -> None:
    async with AsyncMongoEcoProxyServer(host="127.0.0.1", port=0) as server:
        print(server.address.uri, flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
