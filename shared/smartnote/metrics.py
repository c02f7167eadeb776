"""The `ColdStart` metric of each Lambda container, as a CloudWatch Embedded Metric Format line.

It is the record Powertools Metrics' `capture_cold_start_metric` writes (namespace from
`POWERTOOLS_METRICS_NAMESPACE`, dimensions `function_name` and `service`), written without
importing Powertools into every function's cold start. CloudWatch turns the line into the
metric; `docs/operations.md` says how to read it next to Lambda's `InitDuration`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import IO, Any

DEFAULT_NAMESPACE = "SmartNote"
DEFAULT_SERVICE = "smartnote"


def cold_start_record(function_name: str, timestamp_ms: int) -> dict[str, Any]:
    """The EMF document that counts one cold start of `function_name`."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
                    or DEFAULT_NAMESPACE,
                    "Dimensions": [["function_name", "service"]],
                    "Metrics": [{"Name": "ColdStart", "Unit": "Count"}],
                }
            ],
        },
        "function_name": function_name,
        "service": os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
        "ColdStart": 1,
    }


class ColdStartMetric:
    """Writes the `ColdStart` record on the first invocation of this container only."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._written = False

    def record(self, context: Any) -> None:
        if self._written:
            return
        self._written = True
        on_lambda = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        if not on_lambda:  # the local stack: no CloudWatch reads stdout, keep its console clean
            return
        name = getattr(context, "function_name", None) or on_lambda
        stream = self._stream or sys.stdout
        record = cold_start_record(name, int(time.time() * 1000))
        stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        stream.flush()
