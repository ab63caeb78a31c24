"""The results Lambda on verbatim SageMaker notifications, against moto's DynamoDB."""

from __future__ import annotations

import pytest

from tests.lambda_fn.conftest import notification, sns_event


def submitted(table, job_id: str) -> None:
    table.put_item(Item={"job_id": job_id, "status": "submitted", "rank": 1,
                         "created_at": "2026-11-26T10:15:29.000Z"})


def test_a_completed_notification_records_the_output(lambda_handler, jobs_table):
    message = notification("success")
    submitted(jobs_table, message["inferenceId"])
    assert lambda_handler(sns_event(message), None)["recorded"] == 1
    item = jobs_table.get_item(Key={"job_id": message["inferenceId"]})["Item"]
    assert item["status"] == "completed" and item["rank"] == 3
    assert item["output_location"] == message["responseParameters"]["outputLocation"]
    assert item["event_time"] == message["eventTime"] and item["created_at"] == "2026-11-26T10:15:29.000Z"
    assert int(item["expires_at"]) > 0


def test_failed_and_expired_keep_the_reason(lambda_handler, jobs_table):
    failed, expired = notification("failure"), notification("expired")
    lambda_handler(sns_event(failed, expired), None)
    failed_item = jobs_table.get_item(Key={"job_id": failed["inferenceId"]})["Item"]
    assert failed_item["status"] == "failed"
    assert "no audio stream found" in failed_item["failure_reason"]
    assert failed_item["failure_location"] == failed["responseParameters"]["failureLocation"]
    expired_item = jobs_table.get_item(Key={"job_id": expired["inferenceId"]})["Item"]
    assert expired_item["status"] == "expired" and "expired" in expired_item["failure_reason"]


def test_every_record_of_a_batch_is_handled(lambda_handler, jobs_table):
    messages = []
    for i in range(5):
        message = notification("success")
        message["inferenceId"] = f"job-{i}"
        messages.append(message)
    assert lambda_handler(sns_event(*messages), None)["recorded"] == 5
    assert {jobs_table.get_item(Key={"job_id": f"job-{i}"})["Item"]["status"] for i in range(5)} == {"completed"}


def test_duplicates_and_late_messages_never_move_a_job_back(lambda_handler, jobs_table):
    success, failure = notification("success"), notification("failure")
    failure["inferenceId"] = success["inferenceId"]
    assert lambda_handler(sns_event(success), None)["recorded"] == 1
    assert lambda_handler(sns_event(success), None) == {"recorded": 0, "duplicate": 1, "ignored": 0,
                                                        "malformed": 0}
    assert lambda_handler(sns_event(failure), None)["duplicate"] == 1  # late: the first outcome won
    item = jobs_table.get_item(Key={"job_id": success["inferenceId"]})["Item"]
    assert item["status"] == "completed" and "failure_reason" not in item


def test_test_notifications_are_ignored(lambda_handler, jobs_table):
    assert lambda_handler(sns_event(notification("test-notification")), None)["ignored"] == 1
    assert jobs_table.scan()["Count"] == 0


@pytest.mark.parametrize("message", ["{not json", "[]", '{"invocationStatus": "Completed"}',
                                     '{"inferenceId": "x", "invocationStatus": "Pending"}'])
def test_malformed_messages_are_logged_and_skipped(lambda_handler, jobs_table, message, caplog):
    good = notification("success")
    counts = lambda_handler(sns_event(message, good), None)
    assert counts["malformed"] == 1 and counts["recorded"] == 1  # the good one still lands
    assert "malformed_message" in caplog.text


def test_an_event_without_records_is_skipped(lambda_handler):
    assert lambda_handler({"hello": "world"}, None)["malformed"] == 1
