"""The container's Mongo client across freezes: Lambda runs a container's event loop only
during an invocation (the local gateway too), so the client's monitor stands still between."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pymongo
import pytest
from pymongo import monitoring
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import ExecutionTimeout
from secantus import SecantusDBServer

from smartnote.db import mongo
from smartnote.errors import is_unavailable


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


@pytest.fixture
def impatient_mongo_uri() -> Iterator[str]:
    """A standalone server (as MongoService runs) that drops connections idle for 1 s, as
    servers, proxies and NAT gateways drop idle ones (AWS NAT gateway: 350 s; SecantusDB: 300 s)."""
    server = SecantusDBServer(
        host="127.0.0.1",
        port=0,
        storage_path=":memory:",
        replica_set_name=None,
        client_idle_timeout_s=1.0,
    )
    server.start()
    yield f"mongodb://127.0.0.1:{server.port}/?directConnection=true"
    server.stop()


def test_connections_the_server_dropped_while_idle_are_not_used(
    impatient_mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection idle past the server's limit was used as it was: the next write or
    command (a write on a standalone server is not retried; `ping` never is) failed with
    AutoReconnect, a 503 (`GET /health` after 5 idle minutes in the local stack)."""
    # Below this server's 1 s, as MAX_IDLE_MS is below SecantusDB's 300 s.
    monkeypatch.setattr(mongo, "MAX_IDLE_MS", 500)
    loop = asyncio.new_event_loop()

    async def after_idling() -> None:
        client = mongo.get_client(impatient_mongo_uri, timeout_ms=1000)
        await client.smartnote_test.idle.insert_one({"n": 1})
        await asyncio.sleep(2)
        await client.smartnote_test.idle.insert_one({"n": 2})
        await asyncio.sleep(2)
        assert (await client.admin.command("ping"))["ok"] == 1

    try:
        loop.run_until_complete(after_idling())
    finally:
        loop.run_until_complete(mongo.close_clients())
        loop.close()


def test_an_operation_out_of_time_is_unavailable(mongo_uri: str) -> None:
    """Past its deadline, PyMongo raises ExecutionTimeout (an OperationFailure, not a
    connection error) when the server's maxTimeMS ran out or no time is left to send the
    operation: a 503 to try again, like a network timeout, not a 500."""
    loop = asyncio.new_event_loop()

    async def out_of_time() -> BaseException:
        collection = mongo.get_client(mongo_uri, timeout_ms=1000).smartnote_test.timed
        await collection.find_one({})  # the server known: the deadline is the operation's
        with pymongo.timeout(1e-6), pytest.raises(ExecutionTimeout) as raised:
            await collection.find_one({})
        return raised.value

    try:
        assert is_unavailable(loop.run_until_complete(out_of_time()))
    finally:
        loop.run_until_complete(mongo.close_clients())
        loop.close()
