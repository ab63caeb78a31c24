"""Speakers in the web app: the transcript read by turns; speakers named and segments moved
as versions over the machine's transcript; in Changes, search and the downloads;
restorable. (Asking for speakers: test_speaker_options.py.)"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import selectors, services
from transcripts.services.tokens import token_create

pytestmark = pytest.mark.django_db(transaction=True)


def word(text, start, end, speaker):
    return {"word": text, "start": start, "end": end, "probability": 0.9, "speaker": speaker}


# A schema 1.1 result: Speaker 1 asks, Speaker 2 answers twice, Speaker 1 thanks.
SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 2.0, "text": " Please send the report.", "speaker": "S1",
     "avg_logprob": -0.2, "no_speech_prob": 0.01, "compression_ratio": 1.1,
     "words": [word(" Please", 0.0, 0.5, "S1"), word(" send", 0.5, 0.9, "S1"),
               word(" the", 0.9, 1.1, "S1"), word(" report.", 1.1, 2.0, "S1")]},
    {"id": 1, "start": 2.5, "end": 4.5, "text": " It is on its way.", "speaker": "S2"},
    {"id": 2, "start": 4.6, "end": 6.0, "text": " By Friday.", "speaker": "S2"},
    {"id": 3, "start": 6.5, "end": 7.5, "text": " Thank you.", "speaker": "S1"},
]
SPEAKERS = [{"id": "S1", "label": "Speaker 1", "seconds": 3.0},
            {"id": "S2", "label": "Speaker 2", "seconds": 3.4}]


@pytest.fixture
def job(alice, make_job):
    job = make_job(alice, name="call.wav")
    result = {**make_result("Please send the report. It is on its way. By Friday. Thank you.", SEGMENTS),
              "schema_version": "1.1", "speakers": SPEAKERS}
    name = services.job_store_output(job=job, result=result)
    services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    job.refresh_from_db()
    return job


def post(client, url, **body):
    return client.post(url, json.dumps(body), content_type="application/json")


def rename(client, job, speaker, name, base):
    return post(client, reverse("speaker-rename", args=[job.public_id, speaker]), name=name, base=base)


def move(client, job, segment, speaker, base):
    return post(client, reverse("segment-speaker", args=[job.public_id, segment]), speaker=speaker, base=base)


def download(client, job, fmt, **params):
    return client.get(reverse("job-download", args=[job.public_id, fmt]), params).content.decode()


# ---------------------------------------------------------------- reading by turns

def test_the_machine_version_keeps_the_speakers_and_the_page_reads_by_turns(client, alice, job):
    machine = selectors.transcript_current(job)
    assert machine.speakers == [{"id": "S1", "label": "Speaker 1", "seconds": 3.0},
                                {"id": "S2", "label": "Speaker 2", "seconds": 3.4}]
    assert [s["speaker"] for s in machine.segments] == ["S1", "S2", "S2", "S1"]
    assert machine.segments[0]["words"][0]["speaker"] == "S1"
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert page.count('class="speaker-item') == 2 and "talks 0:03 · 53 %" in page
    # A turn begins where the speaker changes: segments 0, 1 and 3, not 2.
    assert page.count('class="segment spk-1 turn"') == 2 and page.count('class="segment spk-2 turn"') == 1
    assert page.count('class="segment spk-2"') == 1
    assert 'data-move-url="' in page and "DIARIZED_JSON" in page


def test_a_transcript_without_speakers_reads_as_before(client, alice, make_job):
    job = make_job(alice, status="completed", text="Hello there.")
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert 'id="speakers"' not in page and "data-speaker" not in page and "DIARIZED_JSON" not in page
    response = move(client, job, 0, "S1", base=0)
    assert response.status_code == 400 and "no speakers" in response.json()["error"]
    assert download(client, job, "txt") == "Hello there.\n"


# ---------------------------------------------------------------- naming and moving

def test_naming_a_speaker_is_a_version_seen_everywhere(client, alice, job):
    client.force_login(alice)
    response = rename(client, job, "S2", "  Dr.   Lee ", base=0)
    assert response.status_code == 200 and response.json()["version"] == 1
    current = selectors.transcript_current(job)
    assert current.speakers[1] == {"id": "S2", "label": "Speaker 2", "name": "Dr. Lee", "seconds": 3.4}
    assert current.summary == "named Speaker 2 Dr. Lee" and current.author == alice
    assert selectors.job_result(job)["speakers"] == SPEAKERS  # the machine's result is untouched
    assert download(client, job, "txt") == ("Speaker 1: Please send the report.\n\n"
                                            "Dr. Lee: It is on its way. By Friday.\n\nSpeaker 1: Thank you.\n")
    document = json.loads(download(client, job, "json"))
    assert document["speakers"][1]["name"] == "Dr. Lee" and document["segments"][1]["speaker"] == "S2"
    assert selectors.changes_against_machine(job) == [
        {"kind": "name", "speaker": "S2", "label": "Speaker 2", "name": "Dr. Lee"}]
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert ">Dr. Lee</button>" in page and "(Speaker 2)" in page
    hits = client.get(reverse("search"), {"q": "friday"}).content.decode()
    assert '<strong class="hit-speaker">Dr. Lee:</strong>' in hits
    # The same name again changes nothing; the machine's label (or nothing) takes the name away.
    assert rename(client, job, "S2", "Dr. Lee", base=1).json()["version"] == 1
    assert rename(client, job, "S2", "Speaker 2", base=1).json()["version"] == 2
    assert "name" not in selectors.transcript_current(job).speakers[1]
    assert "Speaker 2: It is on its way." in download(client, job, "txt")
    assert rename(client, job, "S2", "", base=2).json()["version"] == 2  # no name already


def test_moving_a_segment_changes_its_speaker_words_and_talk_time(client, alice, job):
    client.force_login(alice)
    response = move(client, job, 2, "S1", base=0)
    assert response.status_code == 200 and response.json()["segment"]["speaker"] == "S1"
    current = selectors.transcript_current(job)
    assert [s["speaker"] for s in current.segments] == ["S1", "S2", "S1", "S1"]
    assert [s["seconds"] for s in current.speakers] == [4.4, 2.0]
    assert current.summary == "moved the segment at 4.6 s to Speaker 1"
    assert download(client, job, "txt").endswith("Speaker 1: By Friday. Thank you.\n")
    # The words of a moved segment go with it; a new speaker gets the next number.
    version = move(client, job, 0, "new", base=1).json()
    assert version["segment"]["speaker"] == "S3"
    assert {w["speaker"] for w in version["segment"]["words"]} == {"S3"}
    assert version["speakers"][2] == {"id": "S3", "label": "Speaker 3", "seconds": 2.0}
    changes = selectors.changes_against_machine(job)
    assert [(c["kind"], c["before"], c["after"]) for c in changes] == [
        ("speaker", "Speaker 1", "Speaker 3"), ("speaker", "Speaker 2", "Speaker 1")]


def test_speaker_corrections_conflict_restore_and_stay_private(client, alice, bob, job):
    client.force_login(alice)
    assert rename(client, job, "S1", "Ana", base=0).status_code == 200
    stale = move(client, job, 1, "S1", base=0)
    assert stale.status_code == 409 and "reload" in stale.json()["error"]
    assert rename(client, job, "S9", "Nobody", base=1).status_code == 400
    assert rename(client, job, "S1", "x" * 81, base=1).status_code == 400
    assert move(client, job, 1, "S1", base=1).status_code == 200
    # Restoring the machine's version takes the name and the move back, as a new version.
    client.post(reverse("version-restore", args=[job.public_id, 0]))
    current = selectors.transcript_current(job)
    assert current.number == 3 and current.restored_from == 0 and current.speakers == SPEAKERS
    assert "Speaker 1: Please send" in download(client, job, "txt")
    client.force_login(bob)
    assert rename(client, job, "S1", "Mallory", base=3).status_code == 404
    assert move(client, job, 1, "S1", base=3).status_code == 404


# ---------------------------------------------------------------- API and exports

def test_the_api_transcript_carries_speakers_and_subtitle_options(client, alice, job):
    client.force_login(alice)
    rename(client, job, "S2", "Dr. Lee", base=0)
    token = token_create(owner=alice, name="api")[1]
    url = reverse("api-transcript", args=[job.public_id])

    def get(**params):
        return client.get(url, params, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert get().json()["speakers"][1]["name"] == "Dr. Lee"
    diarized = get(format="diarized_json").json()
    assert [s["speaker"] for s in diarized["segments"]] == ["A", "Dr. Lee", "Dr. Lee", "A"]
    assert diarized["segments"][0] == {"type": "transcript.text.segment", "id": "seg_0", "start": 0.0,
                                       "end": 2.0, "text": "Please send the report.", "speaker": "A"}
    assert diarized["task"] == "transcribe" and diarized["usage"] == {"type": "duration", "seconds": 2.5}
    verbose = get(format="verbose_json").json()
    assert verbose["segments"][1]["speaker"] == "Dr. Lee" and verbose["words"][0]["speaker"] == "Speaker 1"
    vtt = get(format="vtt", max_line_width="12").content.decode()
    assert "<v Dr. Lee>It is on\nits way." in vtt  # lines of even length
    refused = get(format="srt", max_line_count="0")
    assert refused.status_code == 400 and "max_line_count" in refused.json()["error"]
    assert download(client, job, "srt", max_line_width="10").count("Dr. Lee: ") == 1  # where the turn begins
