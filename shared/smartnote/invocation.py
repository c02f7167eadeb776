"""The Lambda invocation doing the work: its request id and when Lambda stops it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartnote.clock import utcnow

# What Lambda takes, and returns, per synchronous invocation: the whole event or result JSON.
LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Invocation:
    """`request_id` is the same on Lambda's retries of an asynchronous invocation;
    `deadline` is when Lambda stops it (None: unknown, not bounded)."""

    request_id: str
    deadline: datetime | None = None

    @classmethod
    def of(cls, context: Any) -> Invocation:
        """The invocation of a Lambda `context`; a fresh id and no deadline without one."""
        request_id = getattr(context, "aws_request_id", None) or uuid.uuid4().hex
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        deadline = None if remaining is None else utcnow() + timedelta(milliseconds=remaining())
        return cls(str(request_id), deadline)

    def time_left(self) -> timedelta:
        """How long the invocation may still run (the real time, whatever a job's clock)."""
        return timedelta.max if self.deadline is None else self.deadline - utcnow()
