"""aws: the limits of the functions' S3 calls against the template's timeouts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smartnote import aws
from smartnote.deps import AFTER_S3
from smartnote.local.template import Template


@pytest.mark.parametrize("function", ["attachments", "notes", "users"])
def test_an_s3_call_and_the_rest_of_its_route_end_before_the_function_times_out(
    template: Template, function: str
) -> None:
    """The routes start an S3 call only while its worst case and what follows it fit before
    the deadline (`deps.s3_has_time`): a Timeout below that would refuse every deletion."""
    timeout = timedelta(seconds=template.function(function).timeout)
    assert aws.S3_CALLS.worst_case + AFTER_S3 < timeout


def test_a_calls_worst_case_counts_every_attempt_and_the_longest_backoffs() -> None:
    # Each attempt: 1 s to connect, 1 s for "100 Continue", 2 s for the answer; 1 s backoff.
    assert aws.CallLimits(1.0, 2.0, attempts=2).worst_case == timedelta(seconds=9)
    assert aws.CallLimits(3.0, 3.0).worst_case == timedelta(seconds=7)  # one attempt
