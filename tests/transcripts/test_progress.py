"""A running job's progress: the one service that records reports from either backend
(forward-only, the outcome wins, a restarted run says why), what the pages and the API read
of it, and the live messages, at most about one a second per job. The reports are the
contract's own fixtures (contracts/container/progress)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import live, selectors, services
from transcripts.models import Job, Status
from transcripts.progress import BadReport, ProgressReport
from transcripts.services.progress import RESTARTED

pytestmark = pytest.mark.django_db
CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "container" / "progress"
RUN = json.loads((CONTRACT / "events.json").read_text())["reports"]


def report(number: int) -> ProgressReport:
    """The contract's report number `number` (0-based) of its one run."""
    return ProgressReport.from_event(RUN[number]["report"])


def texts(job) -> list[str]:
    return [s["text"] for s in selectors.partial_segments(job) or []]


@pytest.fixture
def running(alice, make_job):
    """A job the dispatcher claimed: its first run."""
    job = make_job(alice, name="speech.flac")
    claimed = services.job_claim_next(lease_seconds=60)
    assert claimed.pk == job.pk and claimed.run == 1
    return claimed


@pytest.fixture
def sent(monkeypatch):
    """The live messages, as (job public id, status, seconds done) in order."""
    messages = []
    monkeypatch.setattr(live, "_send", lambda group, message: messages.append(message))
    return lambda: [(m["job"]["public_id"], m["job"]["status"],
                     (m["job"]["progress"] or {}).get("seconds_done")) for m in messages
                    if m["type"] == "job.update"]


def test_the_reports_of_a_run_make_the_partial_transcript_the_contract_shows(running):
    for number, step in enumerate(RUN):
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
        assert texts(running) == step["partial_after"], number
    running.refresh_from_db()
    progress = selectors.job_progress(running)
    assert progress["stage"] == "transcribing" and progress["stage_label"] == "Transcribing"
    assert progress["seconds_done"] == 250.0 and progress["duration"] == 250.0 and progress["fraction"] == 1.0
    assert progress["note"] == "" and progress["queue_position"] is None


def test_progress_only_moves_forward_within_a_run(running):
    services.job_record_progress(job_pk=running.pk, report=report(5), run=running.run)  # 140 s
    late = report(3)  # 58 s, with other text for the start
    assert services.job_record_progress(job_pk=running.pk, report=late, run=running.run) is False
    running.refresh_from_db()
    assert selectors.job_progress(running)["seconds_done"] == 140.0
    # The partial transcript is the 140 s one, the late report's segments left out.
    assert texts(running) == RUN[5]["partial_after"][-1:]  # report 5 alone: from 112 s on


def test_the_same_report_again_changes_nothing(running, sent):
    assert services.job_record_progress(job_pk=running.pk, report=report(4), run=running.run)
    stamp = Job.objects.get(pk=running.pk).progress_at
    assert services.job_record_progress(job_pk=running.pk, report=report(4), run=running.run) is False
    assert Job.objects.get(pk=running.pk).progress_at == stamp


def test_the_outcome_wins_and_replaces_the_partial_transcript(running, client, alice):
    for number in range(4):
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
    name = services.job_store_output(job=running, result=make_result("The whole speech."))
    services.job_record_outcome(job_pk=running.pk, outcome=stored_outcome(name))
    assert services.job_record_progress(job_pk=running.pk, report=report(6), run=running.run) is False
    running.refresh_from_db()
    assert running.status == Status.COMPLETED
    assert selectors.job_progress(running) is None and selectors.partial_segments(running) is None
    client.force_login(alice)
    page = client.get(f"/jobs/{running.public_id}/").content.decode()
    assert "The whole speech." in page and "ask not what your country" not in page


def test_a_failed_job_keeps_no_partial_transcript_and_a_retry_starts_clean(running):
    services.job_record_progress(job_pk=running.pk, report=report(4), run=running.run)
    services.job_record_outcome(job_pk=running.pk, outcome=services.Outcome.failed("the disk is full"))
    running.refresh_from_db()
    assert selectors.partial_segments(running) is None
    assert services.job_retry(job=running)
    running.refresh_from_db()
    assert selectors.job_progress(running)["seconds_done"] == 0 and running.progress_note == ""


def test_a_run_that_starts_again_shows_the_earlier_progress_with_a_note_until_it_passes_it(running):
    for number in range(6):  # the first run reaches 140 s, then its worker dies
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
    first_texts = texts(running)
    Job.objects.filter(pk=running.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    second = services.job_claim_next(lease_seconds=60)
    assert second.pk == running.pk and second.run == 2

    def shown():
        job = Job.objects.get(pk=running.pk)
        return selectors.job_progress(job), texts(job)

    services.job_record_progress(job_pk=running.pk, report=ProgressReport.stage_only("waiting_for_model"),
                                 run=second.run)
    progress, partial = shown()
    assert progress["stage"] == "waiting_for_model" and progress["seconds_done"] == 140.0
    assert progress["note"] == RESTARTED and partial == first_texts
    assert progress["eta_seconds"] is None  # not this run's speed
    for number in range(5):  # the new run, up to 112 s: the earlier 140 s stay on show
        services.job_record_progress(job_pk=running.pk, report=report(number), run=second.run)
    progress, partial = shown()
    assert progress["seconds_done"] == 140.0 and progress["note"] == RESTARTED and partial == first_texts
    # A late report of the first run (its worker was only slow) changes nothing now.
    assert not services.job_record_progress(job_pk=running.pk, report=report(6), run=running.run)
    services.job_record_progress(job_pk=running.pk, report=report(5), run=second.run)  # passes 140 s
    progress, partial = shown()
    assert progress["seconds_done"] == 140.0 and progress["note"] == "" and partial == RUN[5]["partial_after"]


def test_a_job_put_back_in_the_queue_says_it_will_start_again(running):
    services.job_record_progress(job_pk=running.pk, report=report(4), run=running.run)
    services.job_requeue(job_pk=running.pk, delay_seconds=5, reason="the model server stopped while "
                         "transcribing (ChunkedEncodingError)", count_attempt=True)
    job = Job.objects.get(pk=running.pk)
    progress = selectors.job_progress(job)
    assert progress["stage"] == "queued" and progress["seconds_done"] == 112.0
    assert progress["note"].startswith("Starting again from the beginning: the model server stopped")
    assert texts(job) == RUN[4]["partial_after"]  # what it had stays readable meanwhile


def test_seconds_left_come_from_this_jobs_own_speed(running):
    services.job_record_progress(job_pk=running.pk, report=report(1), run=running.run)  # transcribing, 0 s
    started = Job.objects.get(pk=running.pk).progress_since
    services.job_record_progress(job_pk=running.pk, report=report(4), run=running.run)  # 112 of 250 s
    # 112 s of audio in 28 s of work: 4× real time, so the 138 s left take about 34 s.
    Job.objects.filter(pk=running.pk).update(progress_since=started - timedelta(seconds=28),
                                             progress_at=started + timedelta(microseconds=1))
    job = Job.objects.get(pk=running.pk)
    eta = selectors.job_progress(job)["eta_seconds"]
    assert 30 <= eta <= 35, eta


def test_a_queued_job_hears_how_many_jobs_are_ahead_and_nothing_about_them(alice, bob, make_job):
    make_job(bob, name="bob-1.wav")
    make_job(bob, name="bob-2.wav", status=Status.PROCESSING)
    make_job(alice, name="done.wav", status=Status.COMPLETED, text="hi")
    mine = make_job(alice, name="mine.wav")
    make_job(bob, name="later.wav")
    summary = selectors.job_summary(mine)
    assert summary["progress"]["stage"] == "queued" and summary["progress"]["queue_position"] == 2
    assert "bob" not in json.dumps(summary)


def test_an_aws_job_starts_its_endpoint_then_processes_once_the_container_reports(alice, make_job):
    job = make_job(alice, status=Status.SUBMITTED)
    assert selectors.job_progress(job)["stage"] == "starting_endpoint"
    services.job_record_progress(job_pk=job.pk, report=ProgressReport.snapshot(
        stage="transcribing", seconds_done=30.0, duration=250.0, segments=[]))
    job.refresh_from_db()
    assert job.status == Status.PROCESSING and job.started_at is not None
    assert selectors.job_progress(job)["stage"] == "transcribing"


@pytest.mark.django_db(transaction=True)  # the messages go out once the writes commit
def test_live_messages_about_progress_go_out_at_most_about_once_a_second(running, sent, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(live, "_monotonic", lambda: clock[0])
    for number in range(2, 5):  # three reports within the same second
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
        clock[0] += 0.3
    clock[0] += 0.2  # a second after the first
    services.job_record_progress(job_pk=running.pk, report=report(5), run=running.run)
    public_id = str(running.public_id)
    assert sent() == [(public_id, "processing", 27.5), (public_id, "processing", 140.0)]
    # The outcome is never held back: the last state always reaches the page.
    name = services.job_store_output(job=running, result=make_result("Done."))
    services.job_record_outcome(job_pk=running.pk, outcome=stored_outcome(name))
    assert sent()[-1] == (public_id, "completed", None)


def test_reports_that_break_the_contract_are_refused_by_name():
    for bad in ({"stage": "", "seconds_done": 1}, {"stage": "transcribing", "seconds_done": -1},
                {"stage": "transcribing", "seconds_done": 1, "segments_from": 0,
                 "segments": [{"id": 0, "start": 0, "end": 1}]}, ["not", "an", "object"]):
        with pytest.raises(BadReport):
            ProgressReport.from_event(bad)
    stream = (CONTRACT / "stream.ndjson").read_text().splitlines()
    assert [ProgressReport.from_event(json.loads(line)).seconds_done for line in stream[:-1]] == \
        [r["report"]["seconds_done"] for r in RUN]
