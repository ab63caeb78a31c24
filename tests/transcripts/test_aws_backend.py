"""The AWS path end to end, under moto: S3 (django-storages), DynamoDB and SageMaker's
runtime API. moto plays AWS at the boto3 boundary but not SageMaker's asynchronous work, so
a harness plays that part: it reads the invoked input from S3, calls the real model server,
writes the result to the output path, and hands the real results Lambda the SNS event."""

from __future__ import annotations

import uuid
from datetime import timedelta

import boto3
import pytest
import requests
from django.urls import reverse
from django.utils import timezone
from moto import mock_aws

from tests.conftest import words
from tests.lambda_fn.conftest import load_handler_module, notification, sns_event
from tests.transcripts.conftest import upload
from transcripts.backends import _backend, get_backend
from transcripts.models import Job
from transcripts.workers.outcome_sync import OutcomeSync
from webapp.settings import s3_storage

pytestmark = pytest.mark.django_db(transaction=True)
BUCKET, TABLE, ENDPOINT = "transcripts-test", "jobs", "whisper-transcribe"


class SageMakerHarness:
    """Plays SageMaker's asynchronous side for the invocations the backend made."""

    def __init__(self, model_url: str):
        self.model_url = model_url
        self.invocations: list[dict] = []
        self.items_at_invoke: list[dict | None] = []
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE)
        self.lambda_module = load_handler_module()
        self.lambda_module._table = self.lambda_module._locations = None

    def runtime_client(self):
        client = boto3.client("sagemaker-runtime", region_name="us-east-1")
        client.meta.events.register("before-call.sagemaker-runtime.InvokeEndpointAsync", self._record)
        client.meta.events.register("after-call.sagemaker-runtime.InvokeEndpointAsync", self._place_output)
        return client

    def _record(self, params, **kwargs):
        body = params["headers"]
        call = {"InferenceId": body.get("X-Amzn-SageMaker-Inference-Id"),
                "InputLocation": body.get("X-Amzn-SageMaker-InputLocation"),
                "CustomAttributes": body.get("X-Amzn-SageMaker-Custom-Attributes", ""),
                "InvocationTimeoutSeconds": body.get("X-Amzn-SageMaker-InvocationTimeoutSeconds"),
                "RequestTTLSeconds": body.get("X-Amzn-SageMaker-RequestTTLSeconds")}
        self.invocations.append(call)
        self.items_at_invoke.append(self.table.get_item(Key={"job_id": call["InferenceId"]}).get("Item"))

    def _place_output(self, parsed, **kwargs):
        # SageMaker writes under the endpoint's S3OutputPath; moto uses a bucket of its own.
        name = uuid.uuid4()
        parsed["OutputLocation"] = f"s3://{BUCKET}/outputs/{name}.out"
        parsed["FailureLocation"] = f"s3://{BUCKET}/failures/{name}-error.out"
        self.invocations[-1].update(OutputLocation=parsed["OutputLocation"],
                                    FailureLocation=parsed["FailureLocation"])

    def process(self, call: dict, *, notify: bool = True) -> dict:
        """Transcribe one invocation with the real model server; returns the notification."""
        key = call["InputLocation"].split(f"s3://{BUCKET}/", 1)[1]
        audio = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        response = requests.post(f"{self.model_url}/invocations", data=audio, timeout=300, headers={
            "Content-Type": "application/octet-stream",
            "X-Amzn-SageMaker-Custom-Attributes": call["CustomAttributes"]})
        if response.status_code == 200:
            message = notification("success")
            location = call["OutputLocation"]
            message["responseParameters"]["outputLocation"] = location
        else:
            message = notification("failure")
            location = call["FailureLocation"]
            message["responseParameters"]["failureLocation"] = location
            message["failureReason"] = (f"ClientError: Received client error ({response.status_code}) "
                                        f"from primary with message \"{response.text}\".")
        self.s3.put_object(Bucket=BUCKET, Key=location.split(f"s3://{BUCKET}/", 1)[1],
                           Body=response.content)
        message["inferenceId"] = call["InferenceId"]
        message["requestParameters"].update(inputLocation=call["InputLocation"], endpointName=ENDPOINT)
        if notify:
            self.deliver(message)
        return message

    def deliver(self, *messages) -> dict:
        return self.lambda_module.handler(sns_event(*messages), None)


@pytest.fixture
def aws(settings, monkeypatch, model_server):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "JOBS_TABLE_NAME": TABLE,
                        "OUTPUT_LOCATION_PREFIX": f"s3://{BUCKET}/outputs/",
                        "FAILURE_LOCATION_PREFIX": f"s3://{BUCKET}/failures/"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        settings.TRANSCRIBE_BACKEND = "aws"
        settings.AWS_REGION = "us-east-1"
        settings.AWS_STORAGE_BUCKET_NAME, settings.JOBS_TABLE_NAME = BUCKET, TABLE
        settings.SAGEMAKER_ENDPOINT_NAME = ENDPOINT
        settings.STORAGES = {**settings.STORAGES, "default": s3_storage(BUCKET, "us-east-1")}
        _backend.cache_clear()
        harness = SageMakerHarness(model_server.url)
        monkeypatch.setattr(type(get_backend()), "runtime", lambda self: harness.runtime_client())
        yield harness
        _backend.cache_clear()



def test_upload_to_transcript_through_s3_sagemaker_sns_lambda_and_dynamodb(aws, client, alice, report_wav):
    job = upload(client, alice, report_wav, word_timestamps="on")
    job.refresh_from_db()
    assert job.status == "submitted" and job.remote_output.startswith(f"s3://{BUCKET}/outputs/")
    call = aws.invocations[0]
    assert call["InferenceId"] == str(job.public_id)
    assert call["InputLocation"] == f"s3://{BUCKET}/{job.audio.name}" and job.audio.name.startswith("inputs/")
    assert call["InvocationTimeoutSeconds"] == "3600"
    assert "word_timestamps=true" in call["CustomAttributes"]
    assert aws.items_at_invoke[0]["status"] == "submitted"  # the item came first

    aws.process(call)
    assert OutcomeSync().sync_outcomes() == 1
    job.refresh_from_db()
    assert job.status == "completed"
    assert {"report", "john", "friday"} <= set(words(job.transcript_text))
    assert job.output_name == call["OutputLocation"].split(f"{BUCKET}/", 1)[1]
    srt = client.get(reverse("job-download", args=[job.public_id, "srt"])).content.decode()
    assert "Friday" in srt
    audio = client.get(reverse("job-audio", args=[job.public_id]))
    assert audio.status_code == 302 and audio.url.startswith(f"https://{BUCKET}.s3")
    assert "X-Amz-Signature=" in audio.url and "X-Amz-Expires=300" in audio.url
    assert OutcomeSync().sync_outcomes() == 0  # nothing waits any more


def test_a_refusal_by_the_model_server_fails_the_job_with_its_message(aws, client, alice, report_wav):
    job = upload(client, alice, report_wav, language="fr")  # tiny.en is English-only
    aws.process(aws.invocations[0])
    OutcomeSync().sync_outcomes()
    job.refresh_from_db()
    assert job.status == "failed" and "English-only" in job.failure_reason
    assert "ClientError" not in job.failure_reason  # the person reads the model server's words


def test_duplicate_and_out_of_order_notifications_leave_the_first_outcome(aws, client, alice, report_wav):
    job = upload(client, alice, report_wav)
    success = aws.process(aws.invocations[0])
    late_failure = notification("failure")
    late_failure["inferenceId"] = str(job.public_id)
    late_failure["responseParameters"]["failureLocation"] = aws.invocations[0]["FailureLocation"]
    assert aws.deliver(success, late_failure) == {"recorded": 0, "duplicate": 2, "ignored": 0,
                                                  "malformed": 0}
    OutcomeSync().sync_outcomes()
    OutcomeSync().sync_outcomes()
    job.refresh_from_db()
    assert job.status == "completed" and job.failure_reason == ""


def test_a_lost_notification_is_settled_by_the_reconciler(aws, client, alice, report_wav, settings):
    job = upload(client, alice, report_wav)
    aws.process(aws.invocations[0], notify=False)  # SageMaker finished; SNS never delivered
    assert OutcomeSync().sync_outcomes() == 0
    assert OutcomeSync().reconcile() == 0  # too early: SageMaker could still be working
    limit = settings.SAGEMAKER_REQUEST_TTL_SECONDS + settings.INVOCATION_TIMEOUT_SECONDS + 601
    Job.objects.filter(pk=job.pk).update(submitted_at=timezone.now() - timedelta(seconds=limit))
    assert OutcomeSync().reconcile() == 1
    job.refresh_from_db()
    assert job.status == "completed" and "friday" in words(job.transcript_text)


def test_a_job_sagemaker_never_answered_expires_with_a_reason(aws, client, alice, report_wav, settings):
    job = upload(client, alice, report_wav)
    limit = settings.SAGEMAKER_REQUEST_TTL_SECONDS + settings.INVOCATION_TIMEOUT_SECONDS + 601
    Job.objects.filter(pk=job.pk).update(submitted_at=timezone.now() - timedelta(seconds=limit))
    OutcomeSync().reconcile()
    job.refresh_from_db()
    assert job.status == "expired" and "retry" in job.failure_reason


def test_many_waiting_jobs_are_read_in_batches(aws, alice, make_job):
    """More waiting jobs than one BatchGetItem takes: all outcomes still arrive."""
    jobs = [make_job(alice, name=f"j{i}.wav") for i in range(130)]
    Job.objects.update(status="submitted", rank=1)
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE)
    for job in jobs:
        message = notification("expired")
        message["inferenceId"] = str(job.public_id)
        aws.deliver(message)
    assert table.scan(Select="COUNT")["Count"] == 130
    assert OutcomeSync().sync_outcomes() == 130
    assert Job.objects.filter(status="expired").count() == 130


def test_bad_outcomes_never_hold_up_the_others_and_fail_after_their_tries(aws, alice, make_job, settings):
    """A "Completed" item whose output object is missing, and one whose output is not a
    result: every other job settles in the same round, whatever the order DynamoDB returns
    them in; the bad ones are tried again each round and fail with a reason after
    OUTCOME_READ_TRIES rounds."""
    settings.OUTCOME_READ_TRIES = 3
    jobs = [make_job(alice, name=f"j{i}.wav") for i in range(6)]
    Job.objects.update(status="submitted", rank=1)
    missing, not_a_result, *good = jobs
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=BUCKET, Key="outputs/not-a-result.out", Body=b"[1, 2, 3]")
    messages = []
    for job, location in ((missing, "outputs/never-written.out"),
                          (not_a_result, "outputs/not-a-result.out")):
        message = notification("success")
        message["inferenceId"] = str(job.public_id)
        message["responseParameters"]["outputLocation"] = f"s3://{BUCKET}/{location}"
        messages.append(message)
    for job in good:
        message = notification("expired")
        message["inferenceId"] = str(job.public_id)
        messages.append(message)
    assert aws.deliver(*messages)["recorded"] == 6

    assert OutcomeSync().sync_outcomes() == 4
    assert Job.objects.filter(status="expired").count() == 4
    assert set(Job.objects.filter(status="submitted").values_list("outcome_tries", flat=True)) == {1}
    assert OutcomeSync().sync_outcomes() == 0  # try 2 of 3
    assert OutcomeSync().sync_outcomes() == 2  # try 3: the jobs fail, with the reason
    for job in (missing, not_a_result):
        job.refresh_from_db()
        assert job.status == "failed" and "could not be read" in job.failure_reason
    assert OutcomeSync().sync_outcomes() == 0  # nothing waits any more


def test_a_lost_notification_is_settled_within_minutes_from_the_known_output(aws, client, alice,
                                                                            report_wav, settings):
    settings.RECONCILE_AFTER_SECONDS = 300
    job = upload(client, alice, report_wav)
    aws.process(aws.invocations[0], notify=False)  # SageMaker finished; SNS never delivered
    Job.objects.filter(pk=job.pk).update(submitted_at=timezone.now() - timedelta(seconds=200))
    assert OutcomeSync().reconcile() == 0  # not yet: the notification may still come
    Job.objects.filter(pk=job.pk).update(submitted_at=timezone.now() - timedelta(seconds=301))
    assert OutcomeSync().reconcile() == 1
    job.refresh_from_db()
    assert job.status == "completed" and "friday" in words(job.transcript_text)


def test_a_lost_failure_notification_is_settled_within_minutes_from_the_known_failure(aws, client, alice,
                                                                                      report_wav, settings):
    job = upload(client, alice, report_wav, language="fr")  # tiny.en is English-only
    aws.process(aws.invocations[0], notify=False)
    Job.objects.filter(pk=job.pk).update(
        submitted_at=timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS + 1))
    assert settings.RECONCILE_AFTER_SECONDS <= 15 * 60  # minutes, not hours
    assert OutcomeSync().reconcile() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "English-only" in job.failure_reason


def test_a_job_with_nothing_stored_waits_for_the_deadline_before_it_expires(aws, client, alice, report_wav,
                                                                            settings):
    job = upload(client, alice, report_wav)
    Job.objects.filter(pk=job.pk).update(
        submitted_at=timezone.now() - timedelta(seconds=settings.RECONCILE_AFTER_SECONDS + 60))
    assert OutcomeSync().reconcile() == 0  # SageMaker may still be working on it
    job.refresh_from_db()
    assert job.status == "submitted"
