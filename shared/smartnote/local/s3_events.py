"""S3 event notifications for the local stack, delivered like AWS delivers them.

For every function with `Type: S3` events, the bucket notifies an SQS queue (moto sends
exactly the body Lambda receives; it has no notification to a function). A poller thread
takes each message off the queue and hands the event to Lambda's asynchronous invocation
(`async_invoke`), as S3 does: the function runs it once in its own containers, so the gateway
never waits for it, and retries it only after a failure. The queue is only the transport:
a message is deleted once handed over, so it never comes back while the function runs.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from smartnote.local.async_invoke import AsyncInvoker
from smartnote.local.gateway import Gateway
from smartnote.local.services import AwsService
from smartnote.local.template import FunctionSpec, Template

logger = logging.getLogger("smartnote.local.s3_events")


@dataclass(frozen=True)
class Subscription:
    function: FunctionSpec
    bucket: str
    events: list[str]
    filter_rules: list[dict[str, str]]
    queue_name: str


def subscriptions(template: Template) -> list[Subscription]:
    """The S3 events of the template's functions, with the buckets they watch."""
    found = []
    for fn in template.functions.values():
        for event in fn.events_of_type("S3"):
            ref = event.properties.get("Bucket") or {}
            bucket_id = ref.get("Ref") if isinstance(ref, dict) else None
            if bucket_id not in template.resources:
                raise ValueError(f"{fn.logical_id}.{event.name}: Bucket must !Ref a bucket")
            events = event.properties.get("Events")
            rules = ((event.properties.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            found.append(
                Subscription(
                    function=fn,
                    bucket=template.bucket(bucket_id).bucket_name,
                    events=[events] if isinstance(events, str) else list(events or []),
                    filter_rules=[{"Name": r["Name"], "Value": r["Value"]} for r in rules],
                    queue_name=f"smartnote-local-s3-{fn.name}-{event.name}".lower(),
                )
            )
    return found


def aws_encoded_keys(event: dict[str, Any]) -> dict[str, Any]:
    """Keys encoded as AWS encodes them (spaces as '+', '/' kept); moto also encodes '/'."""
    for record in event.get("Records") or []:
        obj = record.get("s3", {}).get("object", {})
        if "key" in obj:
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return event


class S3EventDelivery:
    """Wires the buckets to queues and hands their events to the subscribed functions."""

    def __init__(
        self, template: Template, aws: AwsService, gateway: Gateway, workers: int = 2
    ) -> None:
        self.subscriptions = subscriptions(template)
        self._aws = aws
        self._lambda = AsyncInvoker(template, gateway.invoke, aws, workers=workers)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sqs: Any = None

    def start(self) -> None:
        if not self.subscriptions:
            return
        s3 = self._aws.client("s3")
        self._sqs = self._aws.client("sqs")
        by_bucket: dict[str, list[dict[str, Any]]] = {}
        urls = {}
        for sub in self.subscriptions:
            url = self._sqs.create_queue(QueueName=sub.queue_name)["QueueUrl"]
            urls[sub.queue_name] = url
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            config: dict[str, Any] = {
                "QueueArn": arn["Attributes"]["QueueArn"],
                "Events": sub.events,
            }
            if sub.filter_rules:
                config["Filter"] = {"Key": {"FilterRules": sub.filter_rules}}
            by_bucket.setdefault(sub.bucket, []).append(config)
        for bucket, configs in by_bucket.items():
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs}
            )
        for sub in self.subscriptions:
            thread = threading.Thread(
                target=self._poll,
                args=(sub, urls[sub.queue_name]),
                name=f"s3-events-{sub.function.name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._lambda.stop()

    def _poll(self, sub: Subscription, url: str) -> None:
        while not self._stop.is_set():
            try:
                received = self._sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                )
                for message in received.get("Messages", []):
                    event = aws_encoded_keys(json.loads(message["Body"]))
                    self._lambda.invoke(sub.function.name, event)
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            except Exception:  # the endpoint is going away with the stack
                if not self._stop.wait(1):
                    logger.exception("polling %s failed", sub.queue_name)
