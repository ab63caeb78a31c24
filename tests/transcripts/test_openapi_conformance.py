"""schemathesis against the served OpenAPI document: generated requests, every answer
documented (status, content type, schema), never a server error."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from transcripts.models import Status
from transcripts.services.tokens import token_create
from webapp.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# Each call sends the token itself, so the security scheme is left out of generation: a
# negative case that "removes the token" went out with it and, when its other mutation
# (an extra query parameter) did not survive serialization, was reported as invalid data
# accepted. Requests without a token or with a wrong one are tested in test_api and
# test_security.
schema.config.generation.update(with_security_parameters=False)
# Uploads are covered by the API tests with real audio; generated multipart bodies would
# only exercise ffprobe's refusal hundreds of times.
read_and_manage = schema.exclude(method="POST", path_regex=r"^/(api/v1/jobs/|v1/audio/.*)$")


@pytest.fixture
def alice_key(alice, make_job):
    make_job(alice, name="done.wav", status=Status.COMPLETED, text="Hello there.")
    make_job(alice, name="failed.wav", status=Status.FAILED)
    return token_create(owner=alice, name="schemathesis")[1]


@pytest.mark.django_db(transaction=True)
@read_and_manage.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_the_api_answers_as_documented(case, alice_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {alice_key}"})
