"""Corrections as versions, restores, downloads of the current version, search with moments."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import selectors, services
from transcripts.models import Status

pytestmark = pytest.mark.django_db(transaction=True)

SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 2.0, "text": "Please send the report to Jon.", "avg_logprob": -0.2,
     "no_speech_prob": 0.01, "compression_ratio": 1.1,
     "words": [{"word": " Please", "start": 0.0, "end": 0.4, "probability": 0.9}]},
    {"id": 1, "start": 2.5, "end": 4.0, "text": "The budget is approved.", "avg_logprob": -0.3,
     "no_speech_prob": 0.02, "compression_ratio": 1.2},
]


@pytest.fixture
def job(alice, make_job):
    job = make_job(alice, name="call.wav")
    result = make_result("Please send the report to Jon. The budget is approved.", SEGMENTS)
    name = services.job_store_output(job=job, result=result)
    services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    job.refresh_from_db()
    return job


def save(client, job, segment_id, text, base):
    return client.post(reverse("segment-save", args=[job.public_id, segment_id]),
                       json.dumps({"text": text, "base": base}), content_type="application/json")


def test_the_machine_transcript_is_version_zero(job):
    machine = selectors.transcript_current(job)
    assert machine.number == 0 and machine.author is None
    assert machine.segments[0]["words"][0]["word"] == " Please"


def test_a_correction_is_a_new_version_and_the_machine_text_stays(client, alice, job):
    client.force_login(alice)
    response = save(client, job, 0, "Please send the report to  John.", base=0)
    assert response.status_code == 200 and response.json()["version"] == 1
    assert response.json()["segment"]["text"] == "Please send the report to John."
    assert "words" not in response.json()["segment"]  # old timings no longer fit the text
    versions = list(selectors.transcript_versions(job))
    assert [v.number for v in versions] == [1, 0] and versions[0].author == alice
    assert versions[1].segments[0]["text"] == "Please send the report to Jon."
    srt = client.get(reverse("job-download", args=[job.public_id, "srt"])).content.decode()
    assert "John." in srt and "Jon." not in srt
    document = client.get(reverse("job-download", args=[job.public_id, "json"])).json()
    assert document["version"] == 1 and document["segments"][0]["avg_logprob"] == -0.2
    changes = selectors.changes_against_machine(job)
    assert changes == [{"kind": "text", "id": 0, "start": 0.0,
                        "diff": [("same", "Please send the report to"), ("removed", "Jon."), ("added", "John.")]}]


def test_saving_over_someone_elses_newer_save_is_a_conflict(client, alice, job):
    client.force_login(alice)
    assert save(client, job, 1, "The budget was approved.", base=0).status_code == 200
    stale = save(client, job, 0, "Something else.", base=0)
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    assert selectors.transcript_current(job).number == 1


@pytest.mark.parametrize("body, status", [("{}", 400), ('{"text": "  ", "base": 0}', 400),
                                          ('{"text": "x", "base": "zero"}', 400)])
def test_bad_saves_are_refused(client, alice, job, body, status):
    client.force_login(alice)
    response = client.post(reverse("segment-save", args=[job.public_id, 0]), body,
                           content_type="application/json")
    assert response.status_code == status and response.json()["error"]


def test_an_unknown_segment_and_someone_elses_job_are_refused(client, alice, bob, job):
    client.force_login(alice)
    assert save(client, job, 7, "text", base=0).status_code == 400
    client.force_login(bob)
    assert save(client, job, 0, "hacked", base=0).status_code == 404
    assert client.post(reverse("version-restore", args=[job.public_id, 0])).status_code == 404
    assert selectors.transcript_current(job).number == 0


def test_restoring_the_machine_version_adds_a_version(client, alice, job):
    client.force_login(alice)
    save(client, job, 0, "Please send the report to John.", base=0)
    response = client.post(reverse("version-restore", args=[job.public_id, 0]))
    assert response.status_code == 302
    current = selectors.transcript_current(job)
    assert current.number == 2 and current.restored_from == 0
    assert current.segments[0]["text"] == "Please send the report to Jon."
    assert client.post(reverse("version-restore", args=[job.public_id, 9])).status_code == 404
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert "restored from version 0" in page and "Version 1" in page


def test_search_finds_corrected_words_and_links_to_their_moment(client, alice, bob, job, make_job):
    client.force_login(alice)
    save(client, job, 1, "The marketing budget is approved.", base=0)
    page = client.get(reverse("search"), {"q": "marketing"}).content.decode()
    assert f'/jobs/{job.public_id}/#t=2.5' in page
    assert "<mark>marketing</mark> budget" in page
    assert "Nothing found" in client.get(reverse("search"), {"q": "Jonathan"}).content.decode()
    client.force_login(bob)
    assert "call.wav" not in client.get(reverse("search"), {"q": "marketing"}).content.decode()


def test_search_snippets_are_escaped(client, alice, make_job):
    make_job(alice, name="x.wav", status=Status.COMPLETED, text="<b>budget</b> & more")
    client.force_login(alice)
    page = client.get(reverse("search"), {"q": "budget"}).content.decode()
    assert "&lt;b&gt;<mark>budget</mark>&lt;/b&gt; &amp; more" in page


def test_verbose_json_is_shaped_like_openais(client, alice, job):
    client.force_login(alice)
    response = client.get(reverse("job-download", args=[job.public_id, "verbose_json"]))
    document = json.loads(response.content)
    assert document["language"] == "english" and document["task"] == "transcribe"
    assert document["segments"][1] == {"id": 1, "seek": 0, "start": 2.5, "end": 4.0,
                                       "text": "The budget is approved.", "tokens": [],
                                       "temperature": 0.0, "avg_logprob": -0.3,
                                       "compression_ratio": 1.2, "no_speech_prob": 0.02}
    assert document["words"] == [{"word": "Please", "start": 0.0, "end": 0.4}]
    assert 'filename="call.verbose.json"' in response["Content-Disposition"]


def test_transcript_page_has_the_words_for_follow_along(client, alice, job):
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    data = json.loads(page.split('<script id="transcript-data" type="application/json">')[1]
                      .split("</script>")[0])
    assert data["version"] == 0 and data["segments"][0]["words"][0]["start"] == 0.0
    assert 'aria-label="Transcript"' in page and "Copy text" in page


def test_a_long_transcript_comes_in_a_first_page_and_the_rest_as_json(client, alice, bob, make_job):
    from transcripts.views import FIRST_SEGMENTS

    segments = [{"id": i, "start": i * 5.0, "end": i * 5.0 + 4.5, "text": f"segment number {i}",
                 "avg_logprob": -0.2, "no_speech_prob": 0.0, "compression_ratio": 1.0}
                for i in range(FIRST_SEGMENTS + 30)]
    job = make_job(alice, name="long.wav")
    name = services.job_store_output(job=job, result=make_result("long", segments))
    services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert f"segment number {FIRST_SEGMENTS - 1}<" in page and f"segment number {FIRST_SEGMENTS}<" not in page
    rest = client.get(reverse("job-transcript", args=[job.public_id]), {"start": FIRST_SEGMENTS}).json()
    assert rest["total"] == FIRST_SEGMENTS + 30 and rest["version"] == 0
    assert [s["id"] for s in rest["segments"]] == list(range(FIRST_SEGMENTS, FIRST_SEGMENTS + 30))
    assert selectors.transcript_window(job, 3, 2)[2] == [
        {"id": 3, "start": 15.0, "end": 19.5, "text": "segment number 3"},
        {"id": 4, "start": 20.0, "end": 24.5, "text": "segment number 4"}]
    client.force_login(bob)
    assert client.get(reverse("job-transcript", args=[job.public_id])).status_code == 404

