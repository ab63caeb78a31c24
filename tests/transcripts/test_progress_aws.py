"""AWS parity under moto: the container writes progress and the partial transcript into the
job's DynamoDB item (contracts/container/progress/dynamodb-item.json); the outcome sync
reads it with the outcomes and records it through the same service as the local
dispatcher's stream, so it reaches the job's page and the API the same way. The last test
has the real model server write the item (moto's server plays DynamoDB for both)."""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
import requests
from django.urls import reverse
from moto import mock_aws

from devtools.servers import free_port, start_server
from tests.conftest import SHARED_AUDIO, words
from tests.media_samples import long_recording
from transcripts import selectors
from transcripts.backends import _backend
from transcripts.backends.aws import AwsGateway
from transcripts.backends.invocation import CUSTOM_ATTRIBUTES_HEADER, custom_attributes
from transcripts.models import RANK, Job, Status
from transcripts.workers.outcome_sync import OutcomeSync

pytestmark = pytest.mark.django_db
CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "container" / "progress"
FIXTURE = json.loads((CONTRACT / "dynamodb-item.json").read_text())["item"]
REPORTS = json.loads((CONTRACT / "events.json").read_text())["reports"]
TABLE = "jobs"


@pytest.fixture
def table(settings, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        settings.TRANSCRIBE_BACKEND, settings.AWS_REGION, settings.JOBS_TABLE_NAME = "aws", "us-east-1", TABLE
        _backend.cache_clear()
        yield boto3.resource("dynamodb", region_name="us-east-1").create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        _backend.cache_clear()


def dynamo(value):
    """The item as boto3's resource layer takes it (numbers as Decimal)."""
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


@pytest.fixture
def submitted(alice, make_job):
    """A job SageMaker has: its public id is the fixture item's."""
    job = make_job(alice, name="inaugural.flac", status=Status.SUBMITTED)
    Job.objects.filter(pk=job.pk).update(public_id=FIXTURE["job_id"], rank=RANK[Status.SUBMITTED])
    job.refresh_from_db()
    return job


def test_progress_written_into_the_item_reaches_the_job_page_and_the_api(table, submitted, client, alice):
    sync = OutcomeSync(AwsGateway())
    table.put_item(Item=dynamo({**FIXTURE, "progress": None, "partial_segments": None}))
    sync.sync_outcomes()
    submitted.refresh_from_db()
    assert selectors.job_progress(submitted)["stage"] == "starting_endpoint"  # no report yet

    table.put_item(Item=dynamo(FIXTURE))  # the container's writes, mid-way
    assert sync.sync_outcomes() == 0  # progress settles nothing
    submitted.refresh_from_db()
    progress = selectors.job_progress(submitted)
    assert submitted.status == Status.PROCESSING
    assert progress["stage"] == "transcribing" and progress["seconds_done"] == 140.0
    assert progress["duration"] == 250.0 and progress["fraction"] == 0.56
    # What no later report changes (before the item's settled_before): an OpenAI stream sends it.
    settled = [s["text"] for s in json.loads(FIXTURE["partial_segments"]) if s["start"] < 112.0]
    assert selectors.job_settled_text(submitted.pk)[1] == " ".join(settled) and len(settled) == 4

    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[submitted.public_id])).content.decode()
    for text in REPORTS[5]["partial_after"]:
        assert text in page
    assert "Transcribing" in page and "2:20 of 4:10 (56 %)" in page
    answer = client.get(reverse("api-transcript", args=[submitted.public_id])).json()
    assert answer["partial"] is True and answer["progress"]["seconds_done"] == 140.0
    assert [s["text"] for s in answer["segments"]] == REPORTS[5]["partial_after"]


def test_the_sync_reads_the_same_item_every_round_and_records_only_what_changed(table, submitted):
    sync = OutcomeSync(AwsGateway())
    table.put_item(Item=dynamo(FIXTURE))
    sync.sync_outcomes()
    stamp = Job.objects.get(pk=submitted.pk).progress_at
    sync.sync_outcomes()
    assert Job.objects.get(pk=submitted.pk).progress_at == stamp
    later = REPORTS[6]["partial_after"]
    table.update_item(Key={"job_id": FIXTURE["job_id"]},
                      UpdateExpression="SET progress.seconds_done = :s, partial_segments = :p",
                      ExpressionAttributeValues={":s": Decimal("250.0"), ":p": json.dumps(
                          [{"id": i, "start": float(i), "end": i + 1.0, "text": t} for i, t in enumerate(later)])})
    sync.sync_outcomes()
    job = Job.objects.get(pk=submitted.pk)
    assert selectors.job_progress(job)["fraction"] == 1.0
    assert [s["text"] for s in selectors.partial_segments(job)] == later


def test_an_item_without_its_partial_transcript_still_gives_the_progress(table, submitted):
    """Past PARTIAL_MAX_BYTES the container stops writing the segments; a value that is not
    JSON is dropped the same way: what was recorded before stays."""
    table.put_item(Item=dynamo(FIXTURE))
    sync = OutcomeSync(AwsGateway())
    sync.sync_outcomes()
    table.put_item(Item=dynamo({**FIXTURE, "progress": {**FIXTURE["progress"], "seconds_done": 200.0},
                                "partial_segments": "[{not json", "partial_truncated": True}))
    sync.sync_outcomes()
    job = Job.objects.get(pk=submitted.pk)
    assert selectors.job_progress(job)["seconds_done"] == 200.0
    assert [s["text"] for s in selectors.partial_segments(job)] == REPORTS[5]["partial_after"]


@pytest.fixture
def moto_server(settings, monkeypatch):
    """DynamoDB played by moto's server, which the model server's process reaches too."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # boto3's default session keeps the credentials it first finds: these fake ones must go
    # with this test (monkeypatch puts the earlier session back).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    settings.TRANSCRIBE_BACKEND, settings.AWS_REGION, settings.JOBS_TABLE_NAME = "aws", "us-east-1", TABLE
    _backend.cache_clear()
    table = boto3.resource("dynamodb", region_name="us-east-1").create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    yield table, env
    _backend.cache_clear()
    moto.stop()


def test_the_containers_own_writes_reach_the_job_page_through_dynamodb(moto_server, alice, make_job,
                                                                       client, tmp_path):
    table, env = moto_server
    server = start_server(tmp_path, PROGRESS_TABLE=TABLE, PROGRESS_MIN_INTERVAL="0",
                          WHISPER_WINDOW_SECONDS="30", **env)
    try:
        audio = long_recording(tmp_path / "talk.flac", minutes=2,
                               shared_audio=SHARED_AUDIO if SHARED_AUDIO.exists() else None)
        job = make_job(alice, name="talk.flac", status=Status.SUBMITTED)
        table.put_item(Item={"job_id": str(job.public_id), "status": "submitted", "rank": 1})
        answered = {}

        def sagemaker():  # plays the endpoint's part: the request the gateway's invocation makes
            answered["response"] = requests.post(f"{server.url}/invocations", data=audio.read_bytes(), headers={
                "Content-Type": "application/octet-stream",
                CUSTOM_ATTRIBUTES_HEADER: custom_attributes({}, job_id=str(job.public_id))}, timeout=300)
        endpoint = threading.Thread(target=sagemaker)
        endpoint.start()
        sync, seen = OutcomeSync(AwsGateway()), []
        while endpoint.is_alive():
            sync.sync_outcomes()
            job.refresh_from_db()
            seen.append((selectors.job_progress(job)["seconds_done"], len(selectors.partial_segments(job) or [])))
            time.sleep(0.2)
        endpoint.join()
    finally:
        server.stop()
    assert answered["response"].status_code == 200
    seconds = [s for s, _ in seen]
    assert seconds == sorted(seconds) and len(set(seconds)) >= 3, seen
    assert max(n for _, n in seen) >= 3, seen
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert job.status == Status.PROCESSING and 'class="segments partial"' in page
    said = words(" ".join(s["text"] for s in selectors.partial_segments(job)))
    assert "section" in said, said
