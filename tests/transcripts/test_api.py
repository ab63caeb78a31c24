"""The JSON API: tokens, two people, every endpoint, answers that match the OpenAPI document."""

from __future__ import annotations

import json

import jsonschema
import pytest
from django.urls import reverse

from tests.conftest import REPO
from transcripts.models import Job, Status
from transcripts.services.tokens import token_create, token_revoke

pytestmark = pytest.mark.django_db
OPENAPI = json.loads((REPO / "contracts/api/openapi.json").read_text())


def matches(instance, component: str) -> None:
    jsonschema.validate(instance, {"$ref": f"#/components/schemas/{component}", **OPENAPI},
                        cls=jsonschema.Draft202012Validator)


@pytest.fixture
def alice_key(alice):
    return token_create(owner=alice, name="laptop")[1]


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_create_list_detail_transcript_retry_delete(client, alice, alice_key, report_wav, make_job):
    with open(report_wav, "rb") as audio:
        created = client.post(reverse("api-jobs"), {"file": audio, "language": "en",
                                                    "word_timestamps": "true"}, **auth(alice_key))
    assert created.status_code == 201
    matches(created.json(), "Job")
    job = Job.objects.get(public_id=created.json()["public_id"])
    assert created["Location"] == f"/api/v1/jobs/{job.public_id}/"
    assert created.json()["options"]["word_timestamps"] is True and job.owner == alice

    listing = client.get(reverse("api-jobs"), **auth(alice_key))
    matches(listing.json(), "JobList")
    assert [j["public_id"] for j in listing.json()["results"]] == [str(job.public_id)]
    detail = client.get(reverse("api-job", args=[job.public_id]), **auth(alice_key))
    matches(detail.json(), "Job")
    assert detail.json()["status"] == "queued" and detail.json()["transcript_url"] is None

    not_ready = client.get(reverse("api-transcript", args=[job.public_id]), **auth(alice_key))
    assert not_ready.status_code == 409 and "not ready" in not_ready.json()["error"]
    done = make_job(alice, name="done.wav", status=Status.COMPLETED, text="Hello world.")
    for fmt, expected in (("txt", "Hello world.\n"), ("srt", "1\n00:00:00,000 --> 00:00:02,500\nHello world.\n")):
        body = client.get(reverse("api-transcript", args=[done.public_id]), {"format": fmt}, **auth(alice_key))
        assert body.content.decode() == expected
    assert client.get(reverse("api-transcript", args=[done.public_id]), **auth(alice_key)).json()["text"] == "Hello world."
    assert client.get(reverse("api-transcript", args=[done.public_id]), {"format": "doc"},
                      **auth(alice_key)).status_code == 400

    conflict = client.post(reverse("api-retry", args=[job.public_id]), **auth(alice_key))
    assert conflict.status_code == 409 and "only failed or expired" in conflict.json()["error"]
    failed = make_job(alice, name="bad.wav", status=Status.FAILED)
    retried = client.post(reverse("api-retry", args=[failed.public_id]), **auth(alice_key))
    assert retried.status_code == 200 and retried.json()["status"] == "queued"

    assert client.delete(reverse("api-job", args=[job.public_id]), **auth(alice_key)).status_code == 204
    assert not Job.objects.filter(pk=job.pk).exists()


def test_tokens_never_reach_another_persons_jobs(client, alice, bob, alice_key, make_job):
    bobs = make_job(bob, name="bob-secret.wav", status=Status.COMPLETED, text="secret")
    assert client.get(reverse("api-jobs"), **auth(alice_key)).json()["results"] == []
    for name, method in (("api-job", "get"), ("api-job", "delete"), ("api-transcript", "get"),
                         ("api-retry", "post")):
        response = getattr(client, method)(reverse(name, args=[bobs.public_id]), **auth(alice_key))
        assert response.status_code == 404 and response.json() == {"error": "no such job"}
    assert Job.objects.filter(pk=bobs.pk).exists()


def test_missing_revoked_and_wrong_tokens_are_401(client, alice, alice_key):
    assert client.get(reverse("api-jobs")).status_code == 401
    assert client.get(reverse("api-jobs"), **auth("wt_not-a-real-key")).status_code == 401
    token = alice.api_tokens.get()
    assert token_revoke(owner=alice, token_id=token.pk)
    response = client.get(reverse("api-jobs"), **auth(alice_key))
    assert response.status_code == 401 and "revoked" in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_browser_session_works_with_its_csrf_token(alice, make_job):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    failed = make_job(alice, status=Status.FAILED)
    assert browser.get(reverse("api-jobs")).status_code == 200
    refused = browser.post(reverse("api-retry", args=[failed.public_id]))
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    browser.get(reverse("dashboard"))  # sets the CSRF cookie, as the page would
    token = browser.cookies["csrftoken"].value
    assert browser.post(reverse("api-retry", args=[failed.public_id]),
                        HTTP_X_CSRFTOKEN=token).status_code == 200


def test_refusals_are_json(client, alice_key, tmp_path):
    (tmp_path / "notes.mp3").write_text("plain text")
    with open(tmp_path / "notes.mp3", "rb") as upload:
        response = client.post(reverse("api-jobs"), {"file": upload}, **auth(alice_key))
    assert response.status_code == 400 and "not audio or video" in response.json()["error"]
    assert client.post(reverse("api-jobs"), {}, **auth(alice_key)).json()["error"].startswith("file:")
    assert client.get(reverse("api-jobs"), {"status": "bogus"}, **auth(alice_key)).status_code == 400
    assert client.put(reverse("api-jobs"), **auth(alice_key)).status_code == 405


def test_filter_and_pages(client, alice, alice_key, make_job):
    for i in range(3):
        make_job(alice, name=f"f{i}.wav", status=Status.FAILED)
    make_job(alice, name="ok.wav", status=Status.COMPLETED, text="fine")
    first = client.get(reverse("api-jobs"), {"status": "failed", "per_page": 2}, **auth(alice_key)).json()
    assert [j["original_name"] for j in first["results"]] == ["f2.wav", "f1.wav"]
    assert first["previous"] is None and "page=2" in first["next"] and "status=failed" in first["next"]
    second = client.get(first["next"], **auth(alice_key)).json()
    assert [j["original_name"] for j in second["results"]] == ["f0.wav"] and second["next"] is None


def test_the_openapi_document_is_served_and_valid(client):
    from openapi_spec_validator import validate

    served = client.get(reverse("api-openapi"))
    assert served.status_code == 200 and served.json() == OPENAPI
    validate(served.json())
