"""`/healthz`: what the load balancer's health check reaches on AWS (infra/web.py), answered
whatever the Host header, over plain HTTP, without a login and without the database."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

# Production's redirect to HTTPS, and an ALLOWED_HOSTS that a target's address is not in.
PRODUCTION_LIKE = dict(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["transcribe.example.com"])


@override_settings(**PRODUCTION_LIKE)
def test_health_check_answers_a_load_balancer_over_plain_http_to_its_address():
    response = Client().get("/healthz", HTTP_HOST="10.0.1.23:8000")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies


@override_settings(**PRODUCTION_LIKE)
def test_other_pages_still_check_the_host_and_redirect_to_https():
    assert Client().get("/accounts/login/", HTTP_HOST="10.0.1.23:8000").status_code == 400
    response = Client().get("/accounts/login/", HTTP_HOST="transcribe.example.com")
    assert response.status_code == 301 and response.url.startswith("https://")


@pytest.mark.parametrize("path", ["/healthz/", "/healthz/x", "/HEALTHZ"])
@override_settings(**PRODUCTION_LIKE)
def test_only_the_exact_path_is_answered(path):
    assert Client().get(path, HTTP_HOST="10.0.1.23:8000").status_code == 400


@override_settings(**PRODUCTION_LIKE)
def test_a_post_is_not_answered_by_the_health_check():
    assert Client().post("/healthz", HTTP_HOST="10.0.1.23:8000").status_code == 400


@pytest.mark.django_db(databases=[])
def test_health_check_touches_no_database():
    assert Client().get("/healthz").status_code == 200  # a query would raise here
