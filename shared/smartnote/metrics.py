"""SmartNote's own metrics, as CloudWatch Embedded Metric Format lines on stdout.

Two kinds, built by one `emf_record`: the `ColdStart` count of each Lambda container (the
record Powertools Metrics' `capture_cold_start_metric` writes), and a scheduled job's counts
of one run (`write_counts`). Written without importing Powertools into every function's cold
start; CloudWatch turns each line into the metrics. Every record has the namespace
`POWERTOOLS_METRICS_NAMESPACE` and the dimensions `function_name` and `service`: a function
name is one per function and stack, so the metrics of two stacks in one account stay apart,
and an alarm names exactly the function it watches (template.yaml). `docs/operations.md`,
"Metrics", says how to read them.

Only on Lambda (`AWS_LAMBDA_FUNCTION_NAME` set): locally nothing reads stdout as metrics, and
its console stays clean.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

DEFAULT_NAMESPACE = "SmartNote"
DEFAULT_SERVICE = "smartnote"
# The dimension set of every record, names as in the record and in template.yaml's alarms.
FUNCTION_NAME = "function_name"
SERVICE = "service"
DIMENSIONS = (FUNCTION_NAME, SERVICE)
COLD_START = "ColdStart"
COUNT = "Count"


def namespace() -> str:
    """The namespace of SmartNote's metrics."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE


def lambda_function_name() -> str | None:
    """The function this process runs on Lambda; None anywhere else."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or None


def emf_record(function_name: str, counts: Mapping[str, int], timestamp_ms: int) -> dict[str, Any]:
    """One EMF document with each of `counts` (metric name -> value) as a `Count` metric."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace(),
                    "Dimensions": [list(DIMENSIONS)],
                    "Metrics": [{"Name": name, "Unit": COUNT} for name in counts],
                }
            ],
        },
        FUNCTION_NAME: function_name,
        SERVICE: os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
        **counts,
    }


def cold_start_record(function_name: str, timestamp_ms: int) -> dict[str, Any]:
    """The EMF document that counts one cold start of `function_name`."""
    return emf_record(function_name, {COLD_START: 1}, timestamp_ms)


def _write(record: Mapping[str, Any], stream: IO[str] | None) -> None:
    out = stream or sys.stdout
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()


def write_counts(counts: Mapping[str, int], stream: IO[str] | None = None) -> None:
    """Write one run's `counts` (metric name -> value) as one record, on Lambda only."""
    function_name = lambda_function_name()
    if function_name is None or not counts:
        return
    _write(emf_record(function_name, counts, int(time.time() * 1000)), stream)


class ColdStartMetric:
    """Writes the `ColdStart` record on the first invocation of this container only."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._written = False

    def record(self, context: Any) -> None:
        if self._written:
            return
        self._written = True
        on_lambda = lambda_function_name()
        if on_lambda is None:
            return
        name = getattr(context, "function_name", None) or on_lambda
        _write(cold_start_record(name, int(time.time() * 1000)), self._stream)
