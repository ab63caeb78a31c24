"""SageMaker async notifications → DynamoDB job items, forward-only.

Plain functions, no Lambda specifics, no Django: the handler and the tests call them."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

# Forward-only order of a job's states; all terminal states share the top rank so that
# the first of them wins.
RANK = {"queued": 0, "submitted": 1, "processing": 2, "completed": 3, "failed": 3, "expired": 3}
STATUS_OF = {"Completed": "completed", "Failed": "failed", "Expired": "expired"}
# Items expire with the files they point at: the stack sets the bucket's retention here.
ITEM_TTL_SECONDS = int(os.environ.get("JOB_ITEM_TTL_DAYS", "30")) * 24 * 3600


class Malformed(ValueError):
    """A message that is not a SageMaker notification we understand: logged and skipped,
    never retried (retrying cannot make it readable)."""


@dataclass(frozen=True)
class Outcome:
    job_id: str
    status: str
    event_time: str
    output_location: str = ""
    failure_location: str = ""
    failure_reason: str = ""


def parse_notification(message: str | dict) -> Outcome | None:
    """The outcome a notification reports, or None for SageMaker's TestNotification."""
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise Malformed(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise Malformed("not a JSON object")
    if message.get("eventName") == "TestNotification":
        return None
    status = STATUS_OF.get(message.get("invocationStatus"))
    job_id = message.get("inferenceId")
    if status is None or not job_id:
        raise Malformed(f"invocationStatus={message.get('invocationStatus')!r} "
                        f"inferenceId={job_id!r}")
    response = message.get("responseParameters") or {}
    return Outcome(
        job_id=str(job_id),
        status=status,
        event_time=message.get("eventTime") or _now(),
        output_location=response.get("outputLocation", "") if status == "completed" else "",
        failure_location=response.get("failureLocation", ""),
        failure_reason=message.get("failureReason", "") if status != "completed" else "",
    )


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


def notifications(event: dict):
    """Each SNS record's message, with the record's id for the logs."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise Malformed("the event has no Records list")
    for record in records:
        sns = (record or {}).get("Sns") or {}
        yield sns.get("MessageId", "?"), sns.get("Message")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
