"""TCP proxies that cut a backing service off mid-request, or hold back some of its
operations (fault injection)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Self

import bson


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new
    ones until `restore()`, like a database that became unreachable."""

    cuts = 0  # faults injected by every proxy of this run (reported in docs/SECURITY.md)

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._down = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._listener.close()
        self._drop_all()

    def cut(self) -> None:
        CuttableProxy.cuts += 1
        self._down = True
        self._drop_all()

    def restore(self) -> None:
        self._down = False

    def _drop_all(self) -> None:
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink, data in (
                (client, upstream, self._requests(client)),
                (upstream, client, _received(upstream)),
            ):
                threading.Thread(target=_pipe, args=(source, sink, data), daemon=True).start()

    def _requests(self, client: socket.socket) -> Iterator[bytes]:
        """What of the client's bytes goes on to the service: all of them."""
        return _received(client)


def _received(sock: socket.socket) -> Iterator[bytes]:
    while data := sock.recv(65536):
        yield data


def _pipe(source: socket.socket, sink: socket.socket, data: Iterator[bytes]) -> None:
    """`data` (read from `source`) on to `sink`, until either connection ends."""
    try:
        for chunk in data:
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.close()


_MONGO_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_OP_MSG = 2013


class MongoHoldingProxy(CuttableProxy):
    """A CuttableProxy in front of a MongoDB server that never sends on the commands named
    in `held` (`find`, say): they are never answered, on connections that stay open, while
    the heartbeats and every other command go on (a lock, an operation stuck on a healthy
    server). `held_seen` is set once one was held back. The commands in `slowed` are sent
    on that many seconds late (a long index build)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port)
        self.held: set[str] = set()
        self.held_seen = threading.Event()
        self.slowed: dict[str, float] = {}

    def _requests(self, client: socket.socket) -> Iterator[bytes]:
        while message := _read_message(client):
            command = _command_name(message)
            if command in self.held:
                self.held_seen.set()
                continue
            time.sleep(self.slowed.get(command or "", 0))
            yield message


def _read_message(sock: socket.socket) -> bytes:
    """One wire-protocol message, or b"" once the connection ended."""
    header = _read_exactly(sock, _MONGO_HEADER.size)
    if not header:
        return b""
    return header + _read_exactly(sock, _MONGO_HEADER.unpack(header)[0] - len(header))


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        if not (chunk := sock.recv(size - len(data))):
            return b""
        data += chunk
    return data


def _command_name(message: bytes) -> str | None:
    """The command of an OP_MSG: the first key of its body (section kind 0), else None."""
    if _MONGO_HEADER.unpack_from(message)[3] != _OP_MSG or message[20] != 0:
        return None
    length = struct.unpack_from("<i", message, 21)[0]
    return next(iter(bson.decode(message[21 : 21 + length])), None)
