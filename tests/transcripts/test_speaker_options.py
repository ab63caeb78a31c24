"""Speakers asked for on upload, in the API, the CLI and the OpenAI-compatible endpoint:
the options a job keeps, checked as the model server checks them, and sent so that the
model server reads them back."""

from __future__ import annotations

import io
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from devtools.servers import CONTAINER
from transcripts.backends.invocation import custom_attributes
from transcripts.models import Job
from transcripts.services.tokens import token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("fields, options", [
    ({"diarize": "on"}, {"diarize": True}),
    ({"speakers": "2"}, {"diarize": True, "speakers": 2}),  # a count asks for speakers
    ({"diarize": "on", "min_speakers": "2", "max_speakers": "4"},
     {"diarize": True, "min_speakers": 2, "max_speakers": 4}),
    ({"channels_as_speakers": "on"}, {"channels_as_speakers": True}),
    ({}, {}),
])
def test_upload_asks_for_speakers_and_the_model_server_reads_them(client, alice, report_wav, fields, options):
    client.force_login(alice)
    with open(report_wav, "rb") as audio:
        response = client.post(reverse("upload"), {"file": audio, **fields})
    assert response.status_code == 201, response.content
    job = Job.objects.get()
    speaker_keys = ("diarize", "speakers", "min_speakers", "max_speakers", "channels_as_speakers")
    assert {k: v for k, v in job.options.items() if k in speaker_keys} == options
    # What the backends send, read by the model server's own parser.
    sys.path.insert(0, str(CONTAINER))
    from whisper_server.options import parse_custom_attributes
    parsed = parse_custom_attributes(custom_attributes(job.options))
    assert parsed.diarize == options.get("diarize", False)
    assert parsed.channels_as_speakers == options.get("channels_as_speakers", False)
    assert (parsed.speakers, parsed.min_speakers, parsed.max_speakers) == (
        options.get("speakers"), options.get("min_speakers"), options.get("max_speakers"))


@pytest.mark.parametrize("fields, reason", [
    ({"speakers": "2", "min_speakers": "1"}, "either an exact number of speakers or a range"),
    ({"min_speakers": "4", "max_speakers": "2"}, "4 is more than 2"),
    ({"channels_as_speakers": "on", "speakers": "2"}, "each channel is one speaker"),
    ({"speakers": "21"}, "less than or equal to 20"),
])
def test_contradictory_speaker_counts_are_refused_at_upload(client, alice, report_wav, fields, reason):
    token = token_create(owner=alice, name="api")[1]
    with open(report_wav, "rb") as audio:
        response = client.post(reverse("api-jobs"), {"file": audio, **fields},
                               HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400 and reason in response.json()["error"]
    assert not Job.objects.exists()


def test_the_cli_asks_for_speakers(admin_user, report_wav):
    out = io.StringIO()
    call_command("transcribe", str(report_wav), "--min-speakers", "2", "--max-speakers", "3", stdout=out)
    assert Job.objects.get().options["min_speakers"] == 2 and Job.objects.get().options["diarize"] is True
    with pytest.raises(CommandError, match="each channel is one speaker"):
        call_command("transcribe", str(report_wav), "--speakers", "2", "--channels-as-speakers")


@pytest.mark.parametrize("fields, options", [
    ({"response_format": "diarized_json"}, {"diarize": True}),
    ({"model": "gpt-4o-transcribe-diarize"}, {"diarize": True}),
    ({"speakers": "3"}, {"diarize": True, "speakers": 3}),  # our own field, in extra_body
    ({"channels_as_speakers": "true"}, {"channels_as_speakers": True}),
])
def test_the_openai_endpoint_asks_for_speakers_as_openai_does(client, alice, report_wav, settings, fields, options):
    settings.OPENAI_WAIT_SECONDS = 0
    token = token_create(owner=alice, name="openai")[1]
    with open(report_wav, "rb") as audio:
        response = client.post("/v1/audio/transcriptions", {"file": audio, "model": "whisper-1", **fields},
                               HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 202, response.content
    assert {k: v for k, v in Job.objects.get().options.items() if v and k != "task"} == options


@pytest.mark.parametrize("path, fields, reason", [
    ("/v1/audio/transcriptions", {"known_speaker_names[]": "agent"}, "not supported"),
    ("/v1/audio/translations", {"response_format": "diarized_json"}, "not translations"),
    ("/v1/audio/transcriptions", {"response_format": "diarized_json", "stream": "true"}, "stream"),
])
def test_what_the_openai_endpoint_cannot_do_with_speakers_is_refused(client, alice, report_wav, path, fields, reason):
    token = token_create(owner=alice, name="openai")[1]
    with open(report_wav, "rb") as audio:
        response = client.post(path, {"file": audio, "model": "whisper-1", **fields},
                               HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400 and reason in response.json()["error"]["message"]
