"""The MongoDB client of this container: PyMongo's async API, one client per event loop.

A Lambda container runs one event loop for its whole life (Mangum reuses the thread's loop),
so in production this is one client per container, kept across warm invocations. An
`AsyncMongoClient` must not be shared between loops, hence the key.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from smartnote.errors import unavailable_on, unavailable_when

Document = dict[str, Any]
# A pooled connection idle longer is replaced before use, not written to: servers, proxies
# and NAT gateways drop idle connections (AWS NAT gateway after 350 s, SecantusDB after 300 s),
# and a write on a standalone server or a command such as `ping` is not retried on the
# AutoReconnect that a dropped one gives (a 503). Below both with a margin, and no lower: a
# container idle longer pays a new connection (TLS to Atlas) at its next request.
MAX_IDLE_MS = 240_000


def _srv_lookup_unanswered(exc: BaseException) -> bool:
    """A `mongodb+srv://` URI (Atlas) whose DNS lookup got no answer in time, or only
    failures. PyMongo raises a ConfigurationError, as for a malformed URI, but its client
    looks the name up again on its next call: the same request may succeed in a moment."""
    if not isinstance(exc, ConfigurationError):
        return False
    from dns.exception import Timeout  # noqa: PLC0415 - PyMongo's own dependency, on error only
    from dns.resolver import NoNameservers  # noqa: PLC0415

    return isinstance(exc.__cause__, Timeout | NoNameservers)


def _timed_out(exc: BaseException) -> bool:
    """An operation past its `timeoutMS`: on the client (a network timeout) or on the server
    (`ExecutionTimeout`, an OperationFailure: its maxTimeMS ran out)."""
    return isinstance(exc, PyMongoError) and exc.timeout


unavailable_on(ConnectionFailure, ServerSelectionTimeoutError, AutoReconnect)
unavailable_when(_srv_lookup_unanswered)
unavailable_when(_timed_out)

# Index creation at a client's first use waits this long, past the client's timeout: a new
# index on a big collection takes as long as it takes, and an index build cut short at each
# request would never end, failing every request of every container. Only a deployment
# that adds an index waits for it, once per container; Lambda's own timeout still bounds it.
PREPARE_TIMEOUT_SECONDS = 900


@dataclass
class _LoopClients:
    clients: dict[str, AsyncMongoClient[Document]] = field(default_factory=dict)
    prepared: set[tuple[str, str]] = field(default_factory=set)


_by_loop: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
_lock = threading.Lock()
_created_for: list[str] = []  # one entry per client ever created, for reuse checks


def _loop_clients() -> _LoopClients:
    loop = asyncio.get_running_loop()
    with _lock:
        for dead in [known for known in _by_loop if known.is_closed()]:
            del _by_loop[dead]
        return _by_loop.setdefault(loop, _LoopClients())


def get_client(uri: str, timeout_ms: int = 5000) -> AsyncMongoClient[Document]:
    """The client for `uri` on the running loop, created on first use and then reused.

    `timeout_ms` bounds each operation as a whole, its wait for a server or a connection
    and its retry included (PyMongo's client-side operation timeout, `timeoutMS`, which it
    also sends to the server as `maxTimeMS`): an operation that the server never answers
    while its heartbeats still are (a lock, a stuck node) fails in time for a 503, instead
    of waiting until Lambda kills the invocation.
    """
    clients = _loop_clients().clients
    client = clients.get(uri)
    if client is None:
        client = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            timeoutMS=timeout_ms,
            maxIdleTimeMS=MAX_IDLE_MS,
            appname="smartnote",
            # A container's loop runs only during an invocation. The streaming monitor's
            # heartbeat (a hello the server answers up to 10 s later) then outlives a freeze,
            # fails on resume and clears the pool, cancelling the operations in flight (a 503
            # from a healthy server). Polling tolerates the freeze. PyMongo picks it itself on
            # AWS Lambda (by its environment), not in the local gateway or tests.
            serverMonitoringMode="poll",
        )
        clients[uri] = client
        _created_for.append(uri)
    return client


async def close_clients() -> None:
    """Close the running loop's clients (a container retiring)."""
    loop = asyncio.get_running_loop()
    with _lock:
        state = _by_loop.pop(loop, None)
    for client in state.clients.values() if state else ():
        await client.close()


def clients_created() -> int:
    """How many clients this process has created (connection-reuse tests and benchmarks)."""
    return len(_created_for)


async def get_database(
    uri: str,
    name: str,
    prepare: Callable[[AsyncDatabase[Document]], Awaitable[None]] | None = None,
    timeout_ms: int = 5000,
) -> AsyncDatabase[Document]:
    """The database `name`; `prepare` (e.g. index creation) runs once per client, within
    PREPARE_TIMEOUT_SECONDS rather than `timeout_ms`, once a server answered within it."""
    database = get_client(uri, timeout_ms)[name]
    state = _loop_clients()
    if prepare is not None and (uri, name) not in state.prepared:
        # Within `timeout_ms` first: no server is a 503 now, not a wait for the long deadline.
        await database.command("ping")
        with pymongo.timeout(PREPARE_TIMEOUT_SECONDS):
            await prepare(database)
        state.prepared.add((uri, name))
    return database
