"""Lambda-like containers for the local stack: warm threads that run one function's handler.

Each container is a thread with its own event loop, kept warm between invocations and running
one invocation at a time, like a Lambda execution environment. Lambda stops an invocation at
the function's Timeout and the environment is free again; a Python thread cannot be stopped,
so a container whose invocation timed out is abandoned instead: it gets no more work, a fresh
container takes its place in the pool, and it retires on its own when the handler returns.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import queue
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from smartnote.db import mongo
from smartnote.local.events import LambdaContext
from smartnote.local.template import FunctionSpec

logger = logging.getLogger("smartnote.local.containers")

Handler = Callable[[dict[str, Any], Any], Any]


class FunctionTimedOut(Exception):
    """The invocation ran past the function's Timeout; Lambda stops it and reports an error."""

    error_type = "Sandbox.Timedout"  # what Lambda reports as the errorType


def lambda_error(exc: BaseException) -> dict[str, Any]:
    """What Lambda reports for a failed invocation (a response payload with an error)."""
    error_type = exc.error_type if isinstance(exc, FunctionTimedOut) else type(exc).__name__
    return {
        "errorMessage": str(exc),
        "errorType": error_type,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _init_container(loops: list[asyncio.AbstractEventLoop]) -> None:
    # Mangum calls asyncio.get_event_loop() per invocation and the app caches clients per loop,
    # so every container thread owns one loop for its whole life, like a warm Lambda.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loops.append(loop)


def _retire_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close the container's clients on its own loop, then the loop."""
    try:
        loop.run_until_complete(mongo.close_clients())
    except Exception:
        logger.exception("closing a retired container's clients failed")
    finally:
        loop.close()


def _load_module(fn: FunctionSpec) -> ModuleType:
    module_name = f"smartnote_fn_{fn.name}"
    path = fn.module_path
    loaded = sys.modules.get(module_name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded  # another gateway of this process already imported it
    if not path.is_file():
        raise FileNotFoundError(f"{fn.logical_id}: handler module {path} does not exist")
    # Every function's entry point is app.py, so siblings would shadow each other on sys.path;
    # add the folder only when the function really has sibling modules to import.
    siblings = [
        p
        for p in fn.code_uri.iterdir()
        if p != path and (p.suffix == ".py" or (p / "__init__.py").exists())
    ]
    if siblings and str(fn.code_uri) not in sys.path:
        sys.path.insert(0, str(fn.code_uri))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


@dataclass
class _Invocation:
    event: dict[str, Any]
    request_id: str | None
    future: Future[Any] = field(default_factory=Future)
    deadline: float = 0.0  # monotonic; set when a container starts it
    aws_request_id: str = ""


class _Container:
    """One execution environment: a thread that runs the invocations put in its inbox."""

    def __init__(self, run: Callable[[_Container, _Invocation], None], name: str) -> None:
        self.inbox: queue.SimpleQueue[_Invocation | None] = queue.SimpleQueue()
        self.abandoned = False
        self.thread = threading.Thread(target=self._serve, args=(run,), name=name, daemon=True)

    def _serve(self, run: Callable[[_Container, _Invocation], None]) -> None:
        loops: list[asyncio.AbstractEventLoop] = []
        _init_container(loops)
        try:
            while (invocation := self.inbox.get()) is not None:
                run(self, invocation)
        finally:
            _retire_loop(loops[0])


class FunctionRuntime:
    """The warm containers of one function: at most `pool_size` of them take work at a time.

    One watchdog thread per function ends invocations at the Timeout: a warm invocation
    starts no thread of its own.
    """

    def __init__(self, spec: FunctionSpec, pool_size: int = 4) -> None:
        self.spec = spec
        self.pool_size = pool_size
        self._handler: Handler | None = None
        self._handler_lock = threading.Lock()
        # Guards the pool and settles each invocation's future, so a handler that returns
        # just as its Timeout passes has one outcome only.
        self._lock = threading.Lock()
        self._running_changed = threading.Condition(self._lock)
        self._containers: list[_Container] = []  # the ones in the pool, busy or idle
        self._idle: list[_Container] = []
        self._waiting: deque[_Invocation] = deque()
        self._running: dict[_Container, _Invocation] = {}
        self._numbers = itertools.count(1)
        self._watchdog: threading.Thread | None = None
        self._closed = False

    def _get_handler(self) -> Handler:
        # Loaded inside a container thread: Mangum touches the event loop when constructed.
        with self._handler_lock:
            if self._handler is None:
                module = _load_module(self.spec)
                handler = getattr(module, self.spec.handler_attr, None)
                if not callable(handler):
                    raise AttributeError(
                        f"{self.spec.module_path} has no callable {self.spec.handler_attr!r}"
                    )
                self._handler = handler
            return self._handler

    def handler(self) -> Handler:
        """The function's handler object (tests set a scheduled job's clock on it)."""
        return self._get_handler()

    def start(self, event: dict[str, Any], request_id: str | None = None) -> Future[Any]:
        """Queue an invocation for the next free container. The future holds the handler's
        result or exception, or `FunctionTimedOut` once it has run for the function's Timeout.
        A retry of an asynchronous invocation passes the `request_id` of its first attempt."""
        invocation = _Invocation(event, request_id)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the containers of {self.spec.logical_id} are retired")
            if self._idle:
                self._idle.pop().inbox.put(invocation)  # the warmest one
            elif len(self._containers) < self.pool_size:
                self._new_container().inbox.put(invocation)
            else:
                self._waiting.append(invocation)
        return invocation.future

    def invoke(self, event: dict[str, Any], request_id: str | None = None) -> Any:
        """Run the handler in a free container and wait; raises what the handler raised, or
        `FunctionTimedOut`."""
        return self.start(event, request_id).result()

    def _new_container(self) -> _Container:
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch, name=f"lambda-{self.spec.name}-watchdog", daemon=True
            )
            self._watchdog.start()
        container = _Container(self._run, f"lambda-{self.spec.name}-{next(self._numbers)}")
        self._containers.append(container)
        container.thread.start()
        return container

    def _run(self, container: _Container, invocation: _Invocation) -> None:
        """One invocation in `container`'s thread; the Timeout counts from after the init."""
        try:
            handler = self._get_handler()
        except BaseException as exc:  # noqa: BLE001 - an init error fails the invocation
            self._settle(container, invocation, error=exc)
            return
        context = LambdaContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=self.spec.memory_size,
            timeout_seconds=float(self.spec.timeout),
        )
        if invocation.request_id is not None:
            context.aws_request_id = invocation.request_id
        with self._lock:
            invocation.deadline = time.monotonic() + self.spec.timeout
            invocation.aws_request_id = context.aws_request_id
            self._running[container] = invocation
            self._running_changed.notify()
        try:
            result = handler(invocation.event, context)
        except BaseException as exc:  # noqa: BLE001 - the caller gets it, as from an executor
            self._settle(container, invocation, error=exc)
        else:
            self._settle(container, invocation, result=result)

    def _settle(
        self,
        container: _Container,
        invocation: _Invocation,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Report the outcome (unless the Timeout did first), then give the container its
        next invocation, back to the idle ones, or retire it."""
        with self._lock:
            if not container.abandoned:
                self._running.pop(container, None)
                _set_outcome(invocation.future, result, error)
            if container.abandoned or self._closed:
                container.inbox.put(None)
            elif self._waiting:
                container.inbox.put(self._waiting.popleft())
            else:
                self._idle.append(container)

    def _watch(self) -> None:
        """End every invocation that reaches the Timeout; lives as long as the containers."""
        with self._lock:
            while not (self._closed and not self._running):
                now = time.monotonic()
                for container, invocation in list(self._running.items()):
                    if invocation.deadline <= now:
                        self._time_out(container, invocation)
                soonest = min((i.deadline for i in self._running.values()), default=None)
                self._running_changed.wait(None if soonest is None else soonest - now)

    def _time_out(self, container: _Container, invocation: _Invocation) -> None:
        """Fail the invocation as Lambda does and abandon its container (under the lock)."""
        timeout = self.spec.timeout
        message = (
            f"RequestId: {invocation.aws_request_id} Error: Task timed out after "
            f"{timeout:.2f} seconds"
        )
        logger.error("%s: %s", self.spec.logical_id, message)
        _set_outcome(invocation.future, None, FunctionTimedOut(message))
        # Its thread runs on to the handler's end; the pool forgets it at once.
        container.abandoned = True
        del self._running[container]
        self._containers.remove(container)
        if self._waiting and not self._closed:
            self._new_container().inbox.put(self._waiting.popleft())

    def shutdown(self) -> None:
        """Retire the containers once their invocations end (abandoned ones retire alone)."""
        with self._lock:
            self._closed = True
            for waiting in self._waiting:
                waiting.future.cancel()
            self._waiting.clear()
            for idle in self._idle:
                idle.inbox.put(None)
            self._idle.clear()
            containers = list(self._containers)
            self._running_changed.notify()
        for container in containers:
            container.thread.join()
        with self._lock:
            self._containers.clear()


def _set_outcome(future: Future[Any], result: Any, error: BaseException | None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass  # cancelled by a shutdown meanwhile
