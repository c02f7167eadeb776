"""template.yaml's alarms on SmartNote's own metrics watch what the code writes.

CloudWatch matches a metric by namespace, name and its whole set of dimensions with their
values; an alarm off by any of them watches a metric that never gets data, and with
`TreatMissingData: notBreaching` it stays OK for ever. So each is checked against the code's
constants here, not against a copy of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from smartnote import metrics
from smartnote.jobs import cleanup, images, reminders
from smartnote.local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[2]
ALARM_TYPE = "AWS::CloudWatch::Alarm"
# Each function's metrics, by logical id, as its job writes them.
WRITTEN = {
    "CleanupFunction": set(cleanup.failure_metrics(cleanup.CleanupCounts())),
    "RemindersFunction": set(reminders.failure_metrics(reminders.ReminderCounts())),
    "ImageFunction": set(images.failure_metrics(images.ImageCounts())),
}
# What must have an alarm. Not RemindersFailed: a failed send fails its run, which
# RemindersErrorsAlarm (Lambda's Errors) already watches.
ALARMED = {
    ("CleanupFunction", cleanup.NOTE_FAILURES_METRIC),
    ("CleanupFunction", cleanup.REDERIVE_FAILURES_METRIC),
    ("CleanupFunction", cleanup.UNFINISHED_METRIC),
    ("RemindersFunction", reminders.REFUSED_METRIC),
    ("RemindersFunction", reminders.UNDELIVERABLE_METRIC),
    ("ImageFunction", images.PROCESSING_ERRORS_METRIC),
    ("ImageFunction", images.OCR_FAILURES_METRIC),
}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def watched(properties: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The metrics an alarm's properties watch: its own, or those of its metric math."""
    if "MetricName" in properties:
        yield properties
    for query in properties.get("Metrics") or []:
        if "MetricStat" in query:
            yield query["MetricStat"]["Metric"]


def own_metrics(template: Template) -> list[tuple[str, Mapping[str, Any]]]:
    """(alarm, metric) for every metric outside AWS's namespaces an alarm watches."""
    return [
        (alarm.logical_id, metric)
        for alarm in template.resources.values()
        if alarm.type == ALARM_TYPE
        for metric in watched(alarm.properties)
        if not str(metric["Namespace"]).startswith("AWS/")
    ]


def function_of(metric: Mapping[str, Any]) -> Any:
    """The logical id in the metric's `function_name` dimension, which must be `!Ref` of the
    function: its name, as Lambda gives it to the code (a literal would never match)."""
    [value] = [d["Value"] for d in metric["Dimensions"] if d["Name"] == metrics.FUNCTION_NAME]
    assert isinstance(value, Mapping) and set(value) == {"Ref"}, value
    return value["Ref"]


def test_alarms_watch_the_namespace_names_and_dimensions_the_code_writes(
    template: Template,
) -> None:
    found = own_metrics(template)
    assert found
    for alarm, metric in found:
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert sorted(dimensions) == sorted(metrics.DIMENSIONS), alarm
        logical_id = function_of(metric)
        assert logical_id in WRITTEN, alarm
        assert metric["MetricName"] in WRITTEN[logical_id], alarm
        # What the function reads on Lambda: the stack's value of its environment.
        environment = template.function(logical_id).environment
        assert metric["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"], alarm
        assert dimensions[metrics.SERVICE] == environment["POWERTOOLS_SERVICE_NAME"], alarm


def test_every_failure_the_jobs_count_and_no_run_error_shows_has_an_alarm(
    template: Template,
) -> None:
    alarmed = {(function_of(metric), metric["MetricName"]) for _, metric in own_metrics(template)}
    assert alarmed == ALARMED


def test_every_alarm_notifies_the_alarm_topic_and_ignores_missing_data(
    template: Template,
) -> None:
    alarms = {alarm for alarm, _ in own_metrics(template)}
    assert alarms
    for alarm in alarms:
        properties = template.resources[alarm].properties
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm
        assert properties["TreatMissingData"] == "notBreaching", alarm
