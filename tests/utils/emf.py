"""Read CloudWatch Embedded Metric Format records from what a function wrote on stdout."""

from __future__ import annotations

import json
from typing import Any


def emf_records(output: str) -> list[dict[str, Any]]:
    """Every EMF record among `output`'s lines, each checked to be one CloudWatch reads."""
    records = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    for record in records:
        assert_valid_emf(record)
    return records


def assert_valid_emf(record: dict[str, Any]) -> None:
    """The EMF specification's rules: a millisecond timestamp, and every dimension and metric
    a directive names is a top-level member of the record (CloudWatch drops it otherwise)."""
    metadata = record["_aws"]
    assert isinstance(metadata["Timestamp"], int)
    directives = metadata["CloudWatchMetrics"]
    assert directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        for dimension_set in directive["Dimensions"]:
            assert dimension_set and all(isinstance(record[name], str) for name in dimension_set)
        assert directive["Metrics"]
        for metric in directive["Metrics"]:
            assert isinstance(record[metric["Name"]], int | float)


def record_of(output: str, metric: str) -> dict[str, Any]:
    """The one EMF record in `output` that holds `metric`."""
    found = [record for record in emf_records(output) if metric in record]
    assert len(found) == 1, f"{len(found)} EMF records of {metric} in {output!r}"
    return found[0]


def metric_names(record: dict[str, Any]) -> set[str]:
    """The names of the metrics `record` declares."""
    return {
        metric["Name"]
        for directive in record["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
