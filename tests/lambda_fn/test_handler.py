"""The results Lambda on verbatim SageMaker notifications, against moto's DynamoDB."""

from __future__ import annotations

import json

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


def test_records_that_are_not_sns_objects_are_skipped(lambda_handler, jobs_table, caplog):
    good = sns_event(notification("success"))["Records"][0]
    event = {"Records": ["a string", None, 5, [], {"Sns": "not an object"},
                         {"Sns": {"MessageId": "m", "Message": {"an": "object"}}}, good]}
    counts = lambda_handler(event, None)
    assert counts == {"recorded": 1, "duplicate": 0, "ignored": 0, "malformed": 6}
    assert "malformed_message" in caplog.text


@pytest.mark.parametrize("response", ["a string", ["a", "list"], 7])
def test_response_parameters_that_are_not_an_object_are_skipped(lambda_handler, jobs_table, response):
    bad, good = notification("success"), notification("failure")
    bad["responseParameters"] = response
    counts = lambda_handler(sns_event(bad, good), None)
    assert counts["malformed"] == 1 and counts["recorded"] == 1
    assert "Item" not in jobs_table.get_item(Key={"job_id": bad["inferenceId"]})


@pytest.mark.parametrize("status,key,location", [
    ("success", "outputLocation", "s3://someone-elses-bucket/outputs/x.out"),
    ("success", "outputLocation", "s3://whisper-transcripts-bucket/inputs/3f/3f2a0c1e"),
    ("success", "outputLocation", "https://example.com/outputs/x.out"),
    ("failure", "failureLocation", "s3://someone-elses-bucket/failures/x-error.out"),
    ("failure", "failureLocation", "s3://whisper-transcripts-bucket/outputs/x.out"),
])
def test_a_location_outside_this_stacks_prefixes_is_skipped(lambda_handler, jobs_table, caplog,
                                                            status, key, location):
    message = notification(status)
    message["responseParameters"][key] = location
    assert lambda_handler(sns_event(message), None)["malformed"] == 1
    assert "Item" not in jobs_table.get_item(Key={"job_id": message["inferenceId"]})
    assert "Foreign" in caplog.text


def test_a_completed_notification_without_output_is_skipped(lambda_handler, jobs_table):
    message = notification("success")
    del message["responseParameters"]["outputLocation"]
    assert lambda_handler(sns_event(message), None)["malformed"] == 1


def emf_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_failures_are_counted_by_cause_and_test_notifications_not_at_all(lambda_handler, jobs_table,
                                                                         capsys):
    refused, expired, crashed = notification("failure"), notification("expired"), notification("failure")
    crashed["inferenceId"] = "crashed-job"
    crashed["failureReason"] = ("ServerError: Received server error (500) from primary with "
                                "message \"out of memory\".")
    lambda_handler(sns_event(notification("test-notification"), notification("success"), refused,
                             expired, crashed), None)
    lambda_handler(sns_event(crashed), None)  # a duplicate is not counted twice
    metrics = emf_lines(capsys.readouterr().out)
    assert sorted((m["Cause"], m["FailedTranscriptions"]) for m in metrics) == [
        ("expired", 1), ("input", 1), ("server", 1)]
    [directive] = metrics[0]["_aws"]["CloudWatchMetrics"]
    assert directive == {"Namespace": "WhisperTranscription", "Dimensions": [["Stack", "Cause"]],
                         "Metrics": [{"Name": "FailedTranscriptions", "Unit": "Count"}]}
    assert {m["Stack"] for m in metrics} == {"whisper-transcription"}
