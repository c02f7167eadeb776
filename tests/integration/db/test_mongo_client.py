"""The container's Mongo client across freezes: Lambda runs a container's event loop only
during an invocation (the local gateway too), so the client's monitor stands still between."""

from __future__ import annotations

import asyncio
import time

from pymongo import monitoring
from pymongo.asynchronous.mongo_client import AsyncMongoClient

from smartnote.db import mongo


class _HeartbeatFailures(monitoring.ServerHeartbeatListener):
    """Failed heartbeats while active (pymongo has no way to unregister a listener)."""

    def __init__(self) -> None:
        self.active = True
        self.failures: list[object] = []

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        if self.active:
            self.failures.append(event.reply)


def test_a_frozen_container_keeps_its_server_known(mongo_uri: str) -> None:
    """With the streaming monitor, the heartbeat a freeze outlasts fails when the loop runs
    again, and the pool is cleared with every operation in flight: a request got a 503 for a
    healthy server (`_OperationCancelled`, seen on /health). Polling tolerates the freeze."""
    listener = _HeartbeatFailures()
    monitoring.register(listener)
    # A short heartbeat and timeout, so that a freeze of a few seconds outlasts both.
    uri = f"{mongo_uri}{'&' if '?' in mongo_uri else '/?'}heartbeatFrequencyMS=500"
    loop = asyncio.new_event_loop()

    async def client() -> AsyncMongoClient[mongo.Document]:
        return mongo.get_client(uri, timeout_ms=1000)

    try:
        mongo_client = loop.run_until_complete(client())
        assert loop.run_until_complete(mongo_client.admin.command("ping"))["ok"] == 1
        time.sleep(3)  # the container is frozen: nothing runs its loop
        assert loop.run_until_complete(mongo_client.admin.command("ping"))["ok"] == 1
        assert listener.failures == []
    finally:
        listener.active = False
        loop.run_until_complete(mongo.close_clients())
        loop.close()
