"""SmartNote's metrics: one ColdStart record per container, one record of a job run's counts,
in the shape CloudWatch reads."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from smartnote.lambda_runtime import MeteredHandler
from smartnote.metrics import DIMENSIONS, ColdStartMetric, cold_start_record, write_counts
from tests.utils.emf import emf_records


def test_record_is_embedded_metric_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TestSpace")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "svc")
    record = cold_start_record("notes-fn", 1_700_000_000_000)
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert record["_aws"]["Timestamp"] == 1_700_000_000_000
    assert directive["Namespace"] == "TestSpace"
    assert directive["Metrics"] == [{"Name": "ColdStart", "Unit": "Count"}]
    # Every dimension and metric named in the directive is a member of the record.
    for name in [*directive["Dimensions"][0], "ColdStart"]:
        assert name in record
    assert (record["function_name"], record["service"], record["ColdStart"]) == (
        "notes-fn",
        "svc",
        1,
    )


@pytest.fixture
def on_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn-from-env")  # set by the Lambda runtime


def test_written_once_per_container(on_lambda: None) -> None:
    stream = io.StringIO()
    metric = ColdStartMetric(stream)
    context = SimpleNamespace(function_name="auth-fn")
    for _ in range(3):
        metric.record(context)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["function_name"] == "auth-fn"


def test_nothing_written_outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    stream = io.StringIO()
    ColdStartMetric(stream).record(SimpleNamespace(function_name="fn"))
    assert stream.getvalue() == ""


def test_metered_handler_reports_then_answers(
    capsys: pytest.CaptureFixture[str], on_lambda: None
) -> None:
    calls: list[str] = []

    def inner(event: dict[str, object], context: object) -> dict[str, object]:
        calls.append(str(event["n"]))
        return {"ok": event["n"]}

    handler = MeteredHandler(inner)
    context = SimpleNamespace(function_name="fn")
    assert [handler({"n": n}, context) for n in (1, 2)] == [{"ok": 1}, {"ok": 2}]
    assert calls == ["1", "2"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["ColdStart"] for line in lines] == [1]


def test_a_runs_counts_are_one_record(on_lambda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TestSpace")
    stream = io.StringIO()
    write_counts({"JobFailures": 2, "JobGivenUp": 0}, stream)
    [record] = emf_records(stream.getvalue())
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "TestSpace"
    assert directive["Dimensions"] == [list(DIMENSIONS)]
    assert directive["Metrics"] == [
        {"Name": "JobFailures", "Unit": "Count"},
        {"Name": "JobGivenUp", "Unit": "Count"},
    ]
    assert (record["function_name"], record["JobFailures"], record["JobGivenUp"]) == (
        "fn-from-env",
        2,
        0,
    )


def test_no_counts_written_outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    stream = io.StringIO()
    write_counts({"JobFailures": 1}, stream)
    assert stream.getvalue() == ""
