"""The staff admin over HTTP, as a superuser would use it: the job list, its filters, search
and actions, the review queue, a job's read-only page, and the capacity page."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from moto import mock_aws

from tests.aws_doubles import sagemaker_endpoint
from tests.transcripts.conftest import make_result
from transcripts import services
from transcripts.models import Job, Status
from transcripts.services import Outcome

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = reverse("admin:transcripts_job_changelist")
QUEUE = reverse("admin:transcripts_reviewqueuejob_changelist")
CAPACITY = reverse("admin:transcripts_job_capacity")
ENDPOINT = "whisper-async"


def looped_result() -> dict:
    """A result the quality checks flag: a loop over silence."""
    segments = [{"id": 0, "start": 0.0, "end": 3.0, "text": " Welcome to the weekly standup.",
                 "avg_logprob": -0.2, "no_speech_prob": 0.02, "compression_ratio": 1.2}]
    segments += [{"id": i, "start": 3.0 * i, "end": 3.0 * i + 3.0, "text": " Thank you.",
                  "avg_logprob": -0.4, "no_speech_prob": 0.9, "compression_ratio": 1.1}
                 for i in range(1, 4)]
    return make_result("Welcome to the weekly standup. Thank you. Thank you. Thank you.", segments)


@pytest.fixture
def complete(make_job):
    """A job carried to completion through the real outcome service (flags included)."""
    def run(owner, name="talk.wav", result=None):
        job = make_job(owner, name=name)
        result = result or make_result("Please send the report")
        services.job_record_outcome(job_pk=job.pk, outcome=Outcome.completed(
        result=result, output_name=services.job_store_output(job=job, result=result)))
        return Job.objects.get(pk=job.pk)
    return run


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {job.original_name for job in response.context["cl"].result_list}


def act(client, action: str, jobs, url=JOBS, **extra):
    data = {"action": action, "_selected_action": [j.pk for j in jobs], "index": "0", **extra}
    return client.post(url, data, follow=True)


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def fresh(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


# ---------------------------------------------------------------------- access

@pytest.mark.parametrize("url", [JOBS, QUEUE, CAPACITY])
def test_people_who_are_not_staff_are_sent_to_the_admin_login(client, alice, url):
    assert client.get(url).url.startswith(reverse("admin:login"))
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))


# ---------------------------------------------------------------------- the job list

def test_the_list_shows_who_what_how_long_and_how_it_was_made(admin_client, alice, make_job, complete):
    job = complete(alice, name="standup.wav")
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(created_at=now - timedelta(seconds=150),
                                         started_at=now - timedelta(seconds=120), finished_at=now)
    make_job(alice, name="broken.wav", status=Status.FAILED)
    response = admin_client.get(JOBS)
    assert listed(response) == {"standup.wav", "broken.wav"}
    html = response.content.decode()
    for shown in ("alice", "standup.wav", "Completed", "0:02", "faster-whisper", "tiny.en",
                  "30 s", "2 min 00 s", "2 min 30 s", "the audio is 0.0 seconds long"):
        assert shown in html, shown
    # The way to the review queue and to the capacity page.
    assert f'href="{QUEUE}"' in html and f'href="{CAPACITY}"' in html
    assert CAPACITY == "/admin/transcripts/job/capacity/"


def test_the_list_filters(admin_client, alice, bob, make_job, complete):
    complete(alice, name="clean.wav")
    flagged = complete(alice, name="flagged.wav", result=looped_result())
    complete(bob, name="approved.wav", result=looped_result())
    Job.objects.filter(original_name="approved.wav").update(review="approved")
    make_job(bob, name="waiting.wav")
    Job.objects.filter(pk=flagged.pk).update(made_with={**flagged.made_with, "engine": "openai-whisper"})

    assert listed(admin_client.get(JOBS, {"status__exact": "queued"})) == {"waiting.wav"}
    assert listed(admin_client.get(JOBS, {"owner__id__exact": bob.pk})) == {"approved.wav", "waiting.wav"}
    assert listed(admin_client.get(JOBS, {"engine": "openai-whisper"})) == {"flagged.wav"}
    assert listed(admin_client.get(JOBS, {"engine": "faster-whisper"})) == {"clean.wav", "approved.wav"}
    assert listed(admin_client.get(JOBS, {"language__exact": "en"})) == {"clean.wav", "flagged.wav",
                                                                         "approved.wav"}
    assert listed(admin_client.get(JOBS, {"review__exact": "approved"})) == {"approved.wav"}
    assert listed(admin_client.get(JOBS, {"needs_review": "yes"})) == {"flagged.wav"}
    assert listed(admin_client.get(JOBS, {"needs_review": "flagged"})) == {"flagged.wav", "approved.wav"}
    assert listed(admin_client.get(JOBS, {"needs_review": "clean"})) == {"clean.wav"}
    today = timezone.localdate()
    assert len(listed(admin_client.get(JOBS, {"created_at__year": today.year,
                                              "created_at__month": today.month,
                                              "created_at__day": today.day}))) == 4
    assert listed(admin_client.get(JOBS, {"created_at__year": today.year - 1})) == set()


def test_search_finds_transcript_words_file_names_and_owners(admin_client, alice, bob, complete):
    complete(alice, name="budget.wav", result=make_result("The quarterly numbers look fine"))
    complete(bob, name="standup.wav", result=make_result("Please send the report to John"))
    assert listed(admin_client.get(JOBS, {"q": "quarterly"})) == {"budget.wav"}
    assert listed(admin_client.get(JOBS, {"q": "send report"})) == {"standup.wav"}
    assert listed(admin_client.get(JOBS, {"q": "standup"})) == {"standup.wav"}
    assert listed(admin_client.get(JOBS, {"q": "bob"})) == {"standup.wav"}
    assert listed(admin_client.get(JOBS, {"q": "alice numbers"})) == {"budget.wav"}
    assert listed(admin_client.get(JOBS, {"q": "giraffe"})) == set()


# ---------------------------------------------------------------------- actions

def test_retry_requeues_failed_and_expired_jobs_only(admin_client, alice, make_job, complete):
    failed = make_job(alice, name="failed.wav", status=Status.FAILED)
    expired = make_job(alice, name="expired.wav", status=Status.EXPIRED)
    done = complete(alice)
    response = act(admin_client, "retry", [failed, expired, done])
    assert "2 jobs queued again. 1 left as they were (not failed or expired)." in page_messages(response)
    assert (fresh(failed).status, fresh(failed).failure_reason) == (Status.QUEUED, "")
    assert fresh(expired).status == Status.QUEUED and fresh(done).status == Status.COMPLETED


def test_cancel_stops_jobs_that_have_not_run(admin_client, alice, make_job, complete):
    queued = make_job(alice, name="queued.wav")
    submitted = make_job(alice, name="submitted.wav", status=Status.SUBMITTED)
    running = make_job(alice, name="running.wav", status=Status.PROCESSING)
    response = act(admin_client, "cancel", [queued, submitted, running])
    assert "2 jobs cancelled. 1 left as they were (already running or finished)." in page_messages(response)
    assert fresh(queued).status == fresh(submitted).status == Status.CANCELLED
    assert fresh(running).status == Status.PROCESSING


def test_delete_asks_first_then_removes_the_jobs_and_their_stored_files(admin_client, alice, make_job,
                                                                        complete):
    done, waiting, kept = complete(alice, name="done.wav"), make_job(alice, name="w.wav"), make_job(alice)
    files = [done.audio.name, done.output_name, waiting.audio.name]
    assert all(default_storage.exists(name) for name in files)

    confirm = act(admin_client, "delete_selected", [done, waiting])
    assert "Are you sure" in confirm.content.decode() and Job.objects.count() == 3
    response = act(admin_client, "delete_selected", [done, waiting], post="yes")
    assert "Successfully deleted 2 jobs." in page_messages(response)
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not any(default_storage.exists(name) for name in files)
    assert default_storage.exists(kept.audio.name)


def test_the_delete_action_says_it_removes_the_files(admin_client, alice, make_job):
    make_job(alice)  # the action bar shows once there is something to act on
    html = admin_client.get(JOBS).content.decode()
    assert "Delete selected jobs and their stored files" in html


def test_deleting_from_a_jobs_own_page_removes_its_files_too(admin_client, alice, complete):
    job = complete(alice)
    files = [job.audio.name, job.output_name]
    admin_client.post(reverse("admin:transcripts_job_delete", args=[job.pk]), {"post": "yes"})
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not any(default_storage.exists(name) for name in files)


def test_mark_reviewed_records_who_and_when(admin_client, admin_user, alice, make_job, complete):
    done, waiting = complete(alice), make_job(alice, name="w.wav")
    response = act(admin_client, "mark_reviewed", [done, waiting])
    assert "1 job marked reviewed." in page_messages(response)[0]
    assert (fresh(done).review, fresh(done).reviewed_by) == ("reviewed", admin_user)
    assert fresh(done).reviewed_at is not None and fresh(waiting).review == ""


def test_approve_keeps_the_note(admin_client, admin_user, alice, complete):
    job = complete(alice)
    response = act(admin_client, "approve", [job], note="names checked against the agenda")
    assert "1 job approved." in page_messages(response)
    job = fresh(job)
    assert (job.review, job.review_note, job.reviewed_by) == ("approved", "names checked against the agenda",
                                                              admin_user)


def test_reject_needs_a_note_saying_why(admin_client, alice, complete):
    job = complete(alice, result=looped_result())
    response = act(admin_client, "reject", [job])
    assert any("why" in m for m in page_messages(response)) and fresh(job).review == ""
    act(admin_client, "reject", [job], note="hallucinated thank-yous at the end")
    assert (fresh(job).review, fresh(job).review_note) == ("rejected", "hallucinated thank-yous at the end")


def test_the_action_bar_has_the_note_field(admin_client, alice, make_job):
    make_job(alice)
    assert 'name="note"' in admin_client.get(JOBS).content.decode()


# ---------------------------------------------------------------------- a job's page

def test_a_jobs_page_is_read_only_and_shows_how_it_was_made_and_its_flags(admin_client, alice, complete):
    job = complete(alice, result=looped_result())
    response = admin_client.get(reverse("admin:transcripts_job_change", args=[job.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and 'name="_save"' not in html
    for shown in ("faster-whisper", "tiny.en", "compute type", "int8", "option: task", "transcribe",
                  "text_over_silence", "3 segments in a row say the same thing", "Thank you.",
                  "Welcome to the weekly standup."):
        assert shown in html, shown
    # A stray save cannot overwrite the job: the page does not accept one.
    refused = admin_client.post(reverse("admin:transcripts_job_change", args=[job.pk]),
                                {"status": "queued", "original_name": "renamed.wav"})
    assert refused.status_code == 403
    assert (fresh(job).status, fresh(job).original_name) == (Status.COMPLETED, "talk.wav")


# ---------------------------------------------------------------------- the review queue

def test_the_review_queue_lists_only_flagged_unreviewed_completed_jobs_with_reasons(
        admin_client, alice, bob, make_job, complete):
    complete(alice, name="clean.wav")
    flagged = complete(alice, name="flagged.wav", result=looped_result())
    decided = complete(bob, name="decided.wav", result=looped_result())
    Job.objects.filter(pk=decided.pk).update(review="approved")
    failed = make_job(bob, name="failed.wav", status=Status.FAILED)
    Job.objects.filter(pk=failed.pk).update(quality_flags=[{"code": "x", "reason": "not completed"}])

    response = admin_client.get(QUEUE)
    assert listed(response) == {"flagged.wav"}
    html = response.content.decode()
    assert "3 segments in a row say the same thing" in html and "probably silence" in html
    assert "Review queue (1)" in admin_client.get(JOBS).content.decode()

    # A decision takes the job out of the queue.
    act(admin_client, "approve", [flagged], url=QUEUE, note="music at the end, fine")
    assert listed(admin_client.get(QUEUE)) == set()
    assert fresh(flagged).review == "approved"


def test_the_queue_offers_review_actions_but_not_delete(admin_client, alice, complete):
    complete(alice, result=looped_result())
    html = admin_client.get(QUEUE).content.decode()
    assert 'value="approve"' in html and 'value="reject"' in html
    assert 'value="delete_selected"' not in html and 'value="retry"' not in html


# ---------------------------------------------------------------------- capacity

@pytest.fixture
def workload(alice, make_job, complete):
    now = timezone.now()
    for _ in range(3):
        make_job(alice, name="waiting.wav")
    make_job(alice, name="submitted.wav", status=Status.SUBMITTED)
    make_job(alice, name="running.wav", status=Status.PROCESSING)
    make_job(alice, name="failed-now.wav", status=Status.FAILED)
    old_failure = make_job(alice, name="failed-old.wav", status=Status.FAILED)
    Job.objects.filter(pk=old_failure.pk).update(finished_at=now - timedelta(days=2))
    for name, finished, seconds in (("a.wav", 10, 1800), ("b.wav", 50, 1800), ("c.wav", 180, 3600)):
        job = complete(alice, name=name)
        Job.objects.filter(pk=job.pk).update(finished_at=now - timedelta(minutes=finished),
                                             duration=seconds)
    Job.objects.filter(original_name="waiting.wav").update(created_at=now - timedelta(minutes=12))


def test_the_capacity_page_shows_the_queue_and_the_throughput(admin_client, workload):
    response = admin_client.get(CAPACITY)
    assert response.status_code == 200
    numbers = response.context["numbers"]
    assert (numbers["queue_depth"], numbers["in_flight"], numbers["failures_last_day"]) == (3, 2, 1)
    assert (numbers["completed_last_hour"], numbers["completed_last_day"]) == (2, 3)
    assert numbers["audio_hours_per_hour_last_hour"] == pytest.approx(1.0)
    assert numbers["audio_hours_per_hour_last_day"] == pytest.approx(2.0 / 24)
    html = response.content.decode()
    for shown in ('id="queue-depth"', ">3</a>", 'id="in-flight">2<', 'id="failures-day">1<',
                  'id="completed-hour">2<', 'id="completed-day">3<', 'id="audio-rate-hour">1.00<',
                  "12 min", "Local backend: 1 dispatcher worker"):
        assert shown in html, shown


@pytest.fixture
def aws_settings(settings):
    settings.TRANSCRIBE_BACKEND = "aws"
    settings.SAGEMAKER_ENDPOINT_NAME = ENDPOINT
    settings.AWS_REGION = "us-east-1"
    return settings


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it keeps credentials an earlier test found


@pytest.fixture
def fake_credentials(monkeypatch, no_credentials):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_without_aws_credentials_the_endpoint_shows_as_unavailable(admin_client, workload,
                                                                   aws_settings, no_credentials):
    response = admin_client.get(CAPACITY)
    assert response.status_code == 200
    assert response.context["endpoint"]["available"] is False
    html = response.content.decode()
    assert "is unavailable: no AWS credentials are configured" in html
    assert 'id="queue-depth"' in html and ">3</a>" in html  # the database's numbers still show


def test_an_unreachable_aws_shows_as_unavailable(admin_client, aws_settings, fake_credentials,
                                                 monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")  # nothing listens
    response = admin_client.get(CAPACITY)
    assert response.status_code == 200
    assert "AWS could not be reached" in response.context["endpoint"]["reason"]


def test_an_endpoint_that_does_not_exist_shows_what_aws_said(admin_client, aws_settings,
                                                              fake_credentials):
    with mock_aws():
        response = admin_client.get(CAPACITY)
    assert response.status_code == 200
    endpoint = response.context["endpoint"]
    assert endpoint["available"] is False and endpoint["reason"].startswith("AWS said")


def test_the_endpoint_instances_and_backlog_come_from_sagemaker_and_cloudwatch(
        admin_client, aws_settings, fake_credentials):
    with mock_aws():
        sagemaker_endpoint(ENDPOINT, region="us-east-1", instances=2)
        boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
            Namespace="AWS/SageMaker", MetricData=[{
                "MetricName": "ApproximateBacklogSize", "Value": 7.0,
                "Dimensions": [{"Name": "EndpointName", "Value": ENDPOINT}]}])
        response = admin_client.get(CAPACITY)
    endpoint = response.context["endpoint"]
    assert endpoint["available"] is True
    assert (endpoint["instances"], endpoint["backlog"]) == (2, 7.0)
    html = response.content.decode()
    assert 'id="instances">2 (desired 2)' in html and 'id="backlog">7 (at' in html
    assert "Variant AllTraffic" in html
