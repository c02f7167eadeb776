"""S3 event notifications for the local stack, delivered like AWS delivers them.

For every function with `Type: S3` events, the bucket notifies an SQS queue (moto sends
exactly the body Lambda receives); a poller thread takes each message and invokes the
function with it in the function's own containers, so the gateway never waits for it. As
with Lambda's asynchronous invocations, a failing event is tried 3 times and then sent to
the function's on-failure SQS destination when the template declares one.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from smartnote.local.gateway import Gateway
from smartnote.local.services import AwsService
from smartnote.local.template import FunctionSpec, Template

logger = logging.getLogger("smartnote.local.s3_events")

MAX_ATTEMPTS = 3  # Lambda: the first try and 2 retries
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Subscription:
    function: FunctionSpec
    bucket: str
    events: list[str]
    filter_rules: list[dict[str, str]]
    queue_name: str
    failure_queue: str | None


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
                    failure_queue=_failure_queue(template, fn),
                )
            )
    return found


def _failure_queue(template: Template, fn: FunctionSpec) -> str | None:
    raw = template.raw["Resources"][fn.logical_id]["Properties"]
    destination = (
        ((raw.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
    ).get("Destination")
    if isinstance(destination, dict) and "Fn::GetAtt" in destination:
        logical_id = destination["Fn::GetAtt"][0]
        if logical_id in template.resources:
            return template.queue(logical_id).queue_name
    return None


def aws_encoded_keys(event: dict[str, Any]) -> dict[str, Any]:
    """Keys encoded as AWS encodes them (spaces as '+', '/' kept); moto also encodes '/'."""
    for record in event.get("Records") or []:
        obj = record.get("s3", {}).get("object", {})
        if "key" in obj:
            obj["key"] = quote_plus(unquote_plus(obj["key"]), safe="/")
    return event


class S3EventDelivery:
    """Wires the buckets to queues and invokes the subscribed functions from them."""

    def __init__(
        self, template: Template, aws: AwsService, gateway: Gateway, workers: int = 2
    ) -> None:
        self.subscriptions = subscriptions(template)
        self._aws = aws
        self._gateway = gateway
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-events")
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
        self._workers.shutdown(wait=True, cancel_futures=True)

    def _poll(self, sub: Subscription, url: str) -> None:
        while not self._stop.is_set():
            try:
                received = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    AttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:  # the endpoint is going away with the stack
                if not self._stop.wait(1):
                    logger.exception("polling %s failed", sub.queue_name)
                continue
            for message in received.get("Messages", []):
                self._workers.submit(self._deliver, sub, url, message)

    def _deliver(self, sub: Subscription, url: str, message: dict[str, Any]) -> None:
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        event = aws_encoded_keys(json.loads(message["Body"]))
        try:
            # Every attempt at one event is one invocation to Lambda: one request id.
            self._gateway.invoke(sub.function.name, event, request_id=message["MessageId"])
        except Exception:
            logger.exception("%s failed on an S3 event (try %d)", sub.function.logical_id, attempt)
            if attempt < MAX_ATTEMPTS:
                self._sqs.change_message_visibility(
                    QueueUrl=url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=RETRY_AFTER_SECONDS,
                )
                return
            self._send_to_failure_queue(sub, event)
        self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def _send_to_failure_queue(self, sub: Subscription, event: dict[str, Any]) -> None:
        if sub.failure_queue is None:
            return
        url = self._sqs.get_queue_url(QueueName=sub.failure_queue)["QueueUrl"]
        record = {"requestPayload": event, "responseContext": {"functionError": "Unhandled"}}
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
