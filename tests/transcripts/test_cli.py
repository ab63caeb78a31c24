"""`manage.py transcribe`: the command-line way in, through the configured backend."""

from __future__ import annotations

import io

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from moto import mock_aws

from tests.conftest import words
from transcripts.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local_model(settings, model_server):
    settings.MODEL_CONTAINER_URL = model_server.url


def run(*args) -> str:
    out = io.StringIO()
    call_command("transcribe", *args, stdout=out)
    return out.getvalue()


def test_transcribe_and_wait_prints_the_words(local_model, admin_user, report_wav, window_wav):
    output = run(str(report_wav), str(window_wav), "--wait", "--format", "srt")
    assert {"report", "john", "friday", "open", "window"} <= set(words(output))
    assert "00:00:00,000 -->" in output
    assert Job.objects.filter(owner=admin_user, status="completed").count() == 2


def test_without_wait_it_prints_the_queued_jobs(local_model, admin_user, report_wav):
    output = run(str(report_wav))
    job = Job.objects.get()
    assert f"{job.public_id}  report.wav  queued" in output


def test_bad_files_and_missing_users_are_clear_errors(local_model, admin_user, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "missing.wav"))
    with pytest.raises(CommandError, match="not audio or video"):
        run(str(tmp_path / "notes.wav"))
    with pytest.raises(CommandError, match="no user 'nobody'"):
        run("--user", "nobody", str(tmp_path / "notes.wav"))
    assert not Job.objects.exists()


def test_an_s3_object_is_transcribed(local_model, admin_user, report_wav, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="recordings")
        s3.put_object(Bucket="recordings", Key="calls/report.wav", Body=report_wav.read_bytes())
        output = run("--s3-uri", "s3://recordings/calls/report.wav", "--wait")
        with pytest.raises(CommandError, match="could not read s3://recordings/nothing.wav"):
            run("--s3-uri", "s3://recordings/nothing.wav")
    assert "friday" in words(output)
    assert Job.objects.get().original_name == "report.wav"
