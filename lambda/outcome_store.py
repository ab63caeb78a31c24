"""SageMaker async notifications → DynamoDB job items, forward-only.

Plain functions, no Lambda specifics, no Django: the handler and the tests call them."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Forward-only order of a job's states; all terminal states share the top rank so that
# the first of them wins.
RANK = {"queued": 0, "submitted": 1, "processing": 2, "completed": 3, "failed": 3, "expired": 3}
STATUS_OF = {"Completed": "completed", "Failed": "failed", "Expired": "expired"}
# Items expire with the files they point at: the stack sets the bucket's retention here.
ITEM_TTL_SECONDS = int(os.environ.get("JOB_ITEM_TTL_DAYS", "30")) * 24 * 3600
# SageMaker's failureReason when the model server answered 4xx: the person's file or options
# (not audio, a language the model lacks), which no operator can fix.
_CLIENT_ERROR = re.compile(r"client error \(4\d\d\)", re.IGNORECASE)


class Malformed(ValueError):
    """A message that is not a SageMaker notification we understand: logged and skipped,
    never retried (retrying cannot make it readable)."""


class Foreign(Malformed):
    """A notification whose result or failure report lies outside this stack's bucket
    prefixes: not SageMaker writing for us, so it never reaches the jobs table."""


@dataclass(frozen=True)
class Locations:
    """Where this stack's endpoint writes: s3://bucket/outputs/ and s3://bucket/failures/."""

    output_prefix: str
    failure_prefix: str

    @classmethod
    def from_env(cls) -> Locations:
        return cls(os.environ["OUTPUT_LOCATION_PREFIX"], os.environ["FAILURE_LOCATION_PREFIX"])


@dataclass(frozen=True)
class Outcome:
    job_id: str
    status: str
    event_time: str
    output_location: str = ""
    failure_location: str = ""
    failure_reason: str = ""

    @property
    def failure_cause(self) -> str:
        """For the metrics: 'expired' (waited too long), 'input' (the model server refused
        the person's file: 4xx) or 'server' (anything else: what an operator must look at);
        '' for a completed job."""
        if self.status == "completed":
            return ""
        if self.status == "expired":
            return "expired"
        return "input" if _CLIENT_ERROR.search(self.failure_reason) else "server"


def parse_notification(message: Any, *, locations: Locations) -> Outcome | None:
    """The outcome a notification reports, or None for SageMaker's TestNotification.
    Raises Malformed for anything else, Foreign for locations outside `locations`."""
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise Malformed(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise Malformed("not a JSON object")
    if message.get("eventName") == "TestNotification":
        return None
    status = STATUS_OF.get(message.get("invocationStatus"))  # type: ignore[arg-type]
    job_id = message.get("inferenceId")
    if status is None or not isinstance(job_id, str) or not job_id:
        raise Malformed(f"invocationStatus={message.get('invocationStatus')!r} "
                        f"inferenceId={job_id!r}")
    response = message.get("responseParameters") or {}
    if not isinstance(response, dict):
        raise Malformed("responseParameters is not an object")
    output = _location(response, "outputLocation", locations.output_prefix)
    failure = _location(response, "failureLocation", locations.failure_prefix)
    if status == "completed" and not output:
        raise Malformed("a Completed notification without an outputLocation")
    reason = message.get("failureReason") or ""
    event_time = message.get("eventTime") or ""
    return Outcome(
        job_id=job_id,
        status=status,
        event_time=event_time if isinstance(event_time, str) and event_time else _now(),
        output_location=output if status == "completed" else "",
        failure_location=failure,
        failure_reason=str(reason) if status != "completed" else "",
    )


def _location(response: dict, key: str, prefix: str) -> str:
    value = response.get(key) or ""
    if not isinstance(value, str):
        raise Malformed(f"{key} is not a string")
    if value and not (prefix and value.startswith(prefix) and ".." not in value):
        raise Foreign(f"{key} {value!r} is not under {prefix!r}")
    return value


def record_outcome(table, outcome: Outcome) -> bool:
    """Write the outcome unless the job already has one. True when written; False for a
    duplicate or late message, which is a success, not an error."""
    names = {"#status": "status", "#rank": "rank"}
    values = {":status": outcome.status, ":rank": RANK[outcome.status],
              ":event_time": outcome.event_time, ":updated": _now(),
              ":expires": int(time.time()) + ITEM_TTL_SECONDS}
    sets = ["#status = :status", "#rank = :rank", "event_time = :event_time",
            "updated_at = :updated", "expires_at = if_not_exists(expires_at, :expires)"]
    for field in ("output_location", "failure_location", "failure_reason"):
        value = getattr(outcome, field)
        if value:
            sets.append(f"{field} = :{field}")
            values[f":{field}"] = value
    try:
        table.update_item(
            Key={"job_id": outcome.job_id},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_not_exists(#rank) OR #rank < :rank",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def records(event: Any) -> list[Any]:
    """The event's SNS records (each checked by `message_of`)."""
    found = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(found, list):
        raise Malformed("the event has no Records list")
    return found


def message_of(record: Any) -> tuple[str, str]:
    """One SNS record's (message id, message); Malformed when it is not an SNS record."""
    sns = record.get("Sns") if isinstance(record, dict) else None
    if not isinstance(sns, dict):
        raise Malformed("the record is not an SNS record")
    message_id, message = sns.get("MessageId"), sns.get("Message")
    if not isinstance(message, str):
        raise Malformed("the SNS record has no Message string")
    return (message_id if isinstance(message_id, str) else "?"), message


def notifications(event: Any) -> Iterator[tuple[str, str | Malformed]]:
    """Each record's message id and message, or the reason it has none."""
    for record in records(event):
        try:
            yield message_of(record)
        except Malformed as exc:
            yield "?", exc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
