"""Wrap apps and jobs for Lambda, keeping their clients across warm invocations.

Mangum 0.22 runs the ASGI lifespan on *every* invocation when it is on (startup and
shutdown around each event; Mangum #361), so nothing long-lived may live in a lifespan:
clients are created on first use per container (`smartnote.db`) and lifespan is off. Mangum
drives each invocation on the thread's event loop, which it creates once, so the loop and
the clients bound to it survive between warm invocations. `ScheduledHandler` does the same
for the non-HTTP functions.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from smartnote.clock import utcnow
from smartnote.concurrency import loop_to_itself
from smartnote.config import Settings, get_settings
from smartnote.invocation import Invocation
from smartnote.lambda_events import UnsupportedEvent, describe
from smartnote.logs import configure_logging, request_id_var
from smartnote.metrics import ColdStartMetric
from smartnote.models.events import ScheduledEvent

if TYPE_CHECKING:  # the scheduled and image functions never load FastAPI or Mangum
    from fastapi import FastAPI
    from mangum import Mangum

Clock = Callable[[], datetime]
# A scheduled job: settings, its clock (tests set it), and the invocation running it.
Job = Callable[[Settings, Clock, Invocation], Coroutine[Any, Any, dict[str, int]]]
EntryPoint = Callable[[dict[str, Any], Any], dict[str, Any]]

T = TypeVar("T")
logger = logging.getLogger("smartnote.events")


class MeteredHandler:
    """A Lambda entry point that counts its container's cold start (EMF), then runs `handler`
    with the invocation's request id in every log line (the HTTP middleware replaces it with
    the request's X-Request-ID while it serves one)."""

    def __init__(self, handler: EntryPoint) -> None:
        self.handler = handler
        self.cold_start = ColdStartMetric()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.cold_start.record(context)
        token = request_id_var.set(getattr(context, "aws_request_id", None))
        try:
            with loop_to_itself():  # Lambda runs one invocation per container at a time
                return self.handler(event, context)
        finally:
            request_id_var.reset(token)


def lambda_handler(app: FastAPI) -> MeteredHandler:
    """The Lambda entry point for `app`: API Gateway REST proxy events to Mangum, warm-up
    pings and every other event answered without it (`smartnote.api_events`)."""
    from mangum import Mangum  # noqa: PLC0415 - only the HTTP functions pay for it

    from smartnote.api_events import ApiEventGuard  # noqa: PLC0415 - nor for this

    mangum: Mangum = Mangum(app, lifespan="off", api_gateway_base_path="/")
    return MeteredHandler(ApiEventGuard(mangum))


def container_loop() -> asyncio.AbstractEventLoop:
    """The event loop of this thread (= container), created on first use and then kept."""
    policy = asyncio.get_event_loop_policy()
    try:
        with warnings.catch_warnings():  # 3.12 warns when it creates the loop implicitly
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = policy.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


def run_in_container_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on this container's event loop, so that its Mongo client (one per loop, see
    `smartnote.db.mongo`) survives between warm invocations like the API functions' do."""
    return container_loop().run_until_complete(work)


class ScheduledHandler:
    """The Lambda entry point of a scheduled job: EventBridge event in, the job's counts out.

    `clock` is the job's notion of now; tests set it on the handler of the function module.
    An exception propagates, so Lambda retries the invocation and then hands the event to
    the function's on-failure destination. So does any other event than a schedule's, as
    `UnsupportedEvent`: the job does not run, and the dead-letter queue's alarm shows the
    misrouted rule or broken schedule input.
    """

    def __init__(self, job: Job, clock: Clock = utcnow) -> None:
        self.job = job
        self.clock = clock
        self.cold_start = ColdStartMetric()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.cold_start.record(context)
        configure_logging()
        scheduled = _scheduled_event(event)
        token = request_id_var.set(getattr(context, "aws_request_id", None) or scheduled.id)
        try:
            job = self.job(get_settings(), self.clock, Invocation.of(context))
            counts = run_in_container_loop(job)
        finally:
            request_id_var.reset(token)
        return {"scheduled_time": scheduled.time.isoformat(), **counts}


def _scheduled_event(event: Any) -> ScheduledEvent:
    """`event` as a schedule's event, else `UnsupportedEvent` saying what is wrong (the field
    errors only: pydantic's message would quote the event's values)."""
    try:
        return ScheduledEvent.model_validate(event)
    except ValidationError as exc:
        wrong = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'event'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        message = (
            'this function runs on an EventBridge scheduled event ("detail-type": "Scheduled'
            f' Event" from aws.events or aws.scheduler); got {describe(event)}: {wrong}'
        )
        logger.error("not a scheduled event: %s", message)
        raise UnsupportedEvent(message) from None
