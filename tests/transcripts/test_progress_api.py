"""A running job as the API, the pages and the websocket show it: `progress` in the job
JSON (as the OpenAPI document describes it), the partial transcript marked partial (409
while there is none), and a job page that hears its partial transcript change."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from tests.transcripts.test_api import auth, matches
from tests.transcripts.test_consumers import as_user
from tests.transcripts.test_progress import RUN, report
from transcripts import live, services
from transcripts.models import Status
from transcripts.progress import ProgressReport
from transcripts.services.tokens import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_key(alice):
    return token_create(owner=alice, name="laptop")[1]


@pytest.fixture
def running(alice, make_job):
    make_job(alice, name="speech.flac")
    return services.job_claim_next(lease_seconds=60)


def test_a_running_jobs_json_carries_its_progress(client, alice_key, running):
    detail = client.get(reverse("api-job", args=[running.public_id]), **auth(alice_key)).json()
    matches(detail, "Job")
    assert detail["progress"]["stage"] == "waiting_for_model" and detail["progress"]["seconds_done"] == 0
    for number in range(5):
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
    detail = client.get(reverse("api-job", args=[running.public_id]), **auth(alice_key)).json()
    matches(detail, "Job")
    progress = detail["progress"]
    assert progress["stage"] == "transcribing" and progress["seconds_done"] == 112.0
    assert progress["duration"] == 250.0 and progress["fraction"] == 0.448
    assert progress["updated_at"] and progress["note"] == "" and progress["queue_position"] is None
    listing = client.get(reverse("api-jobs"), **auth(alice_key)).json()
    matches(listing, "JobList")
    assert listing["results"][0]["progress"] == progress


def test_queued_and_finished_jobs(client, alice, alice_key, make_job):
    queued = make_job(alice, name="waiting.wav")
    done = make_job(alice, name="done.wav", status=Status.COMPLETED, text="Hi.")
    first = client.get(reverse("api-job", args=[queued.public_id]), **auth(alice_key)).json()
    assert first["progress"]["stage"] == "queued" and first["progress"]["queue_position"] == 0
    assert client.get(reverse("api-job", args=[done.public_id]), **auth(alice_key)).json()["progress"] is None


def test_the_transcript_of_a_running_job_is_the_partial_one(client, alice_key, running):
    url = reverse("api-transcript", args=[running.public_id])
    services.job_record_progress(job_pk=running.pk, report=report(1), run=running.run)  # no text yet
    not_yet = client.get(url, **auth(alice_key))
    assert not_yet.status_code == 409 and "not ready" in not_yet.json()["error"]

    for number in range(2, 5):
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
    answer = client.get(url, **auth(alice_key))
    assert answer.status_code == 200 and answer["Transcript-Partial"] == "true"
    document = answer.json()
    assert document["partial"] is True and document["progress"]["seconds_done"] == 112.0
    assert [s["text"] for s in document["segments"]] == RUN[4]["partial_after"]
    assert document["text"].startswith("And so my fellow Americans, ask not")
    srt = client.get(url, {"format": "srt"}, **auth(alice_key))
    assert srt["Transcript-Partial"] == "true" and srt.content.decode().startswith("1\n00:00:00,000 --> 00:00:06,200\n")
    verbose = client.get(url, {"format": "verbose_json"}, **auth(alice_key)).json()
    assert len(verbose["segments"]) == 4


def test_the_job_page_shows_the_stage_the_bar_and_the_segments_so_far(client, alice, running):
    for number in range(5):
        services.job_record_progress(job_pk=running.pk, report=report(number), run=running.run)
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[running.public_id])).content.decode()
    assert 'id="progress-stage" aria-live="polite">Transcribing</strong>' in page
    assert '<progress id="progress-bar" max="1" value="0.448"' in page
    assert "1:52 of 4:10 (44 %)" in page
    assert 'class="segments partial"' in page and "My fellow citizens of the world." in page
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert '<span class="job-progress" data-field="progress">44 %</span>' in dashboard


@pytest.mark.django_db(transaction=True)
async def test_a_job_page_hears_what_changed_in_the_partial_transcript(alice, make_job):
    job = await database_sync_to_async(make_job)(alice, name="speech.flac")
    claimed = await database_sync_to_async(services.job_claim_next)(lease_seconds=60)
    page = as_user(alice, f"/ws/jobs/{job.public_id}/")
    assert (await page.connect())[0]

    async def record(number):
        live._last_progress.clear()  # each report in a second of its own
        await database_sync_to_async(services.job_record_progress)(
            job_pk=job.pk, report=report(number), run=claimed.run)
        event = await page.receive_json_from(timeout=2)
        assert event["type"] == "job" and event["job"]["progress"]["seconds_done"] == RUN[number]["report"]["seconds_done"]
        partial = await page.receive_json_from(timeout=2)
        assert partial["type"] == "partial" and partial["public_id"] == str(job.public_id)
        return partial["from"], [s["text"] for s in partial["segments"]]

    assert await record(2) == (0, RUN[2]["partial_after"])  # the first two segments
    assert await record(3) == (2, RUN[3]["partial_after"][2:])  # one more at the end
    assert await record(4) == (1, RUN[4]["partial_after"][1:])  # the window stitched: from its 2nd
    live._last_progress.clear()
    await database_sync_to_async(services.job_record_progress)(  # no new text: no partial message
        job_pk=job.pk, report=ProgressReport.from_event({**RUN[4]["report"], "seconds_done": 120,
                                                         "segments_from": None}), run=claimed.run)
    assert (await page.receive_json_from(timeout=2))["type"] == "job"
    assert await page.receive_nothing(timeout=0.3)
    await page.disconnect()
