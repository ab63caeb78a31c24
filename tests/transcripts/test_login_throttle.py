"""Password guessing is slowed on /accounts/login/ and /admin/login/: per account and per
client address, answered 429 with Retry-After, counted in the database so that every web
process sees the same counts (docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from transcripts import services
from transcripts.models import LoginAttempt

pytestmark = pytest.mark.django_db

PAGES = ("/accounts/login/", "/admin/login/")


def log_in(client, page, username, password, address="203.0.113.7"):
    return client.post(page, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    settings.LOGIN_LOCKOUT_SECONDS = 900


@pytest.mark.parametrize("page", PAGES)
def test_guessing_one_accounts_password_is_stopped(client, admin_user, limits, page):
    # admin_user's password is "password"; the admin login is for staff, like this account.
    answers = [log_in(client, page, "admin", f"guess-{i}").status_code for i in range(60)]
    assert answers[:5] == [200] * 5  # the form says the password is wrong
    assert set(answers[5:]) == {429}
    assert LoginAttempt.objects.count() == 5  # refused attempts are not even tried
    # Even the right password waits now, from any address: the guesser cannot tell it was right.
    locked = log_in(client, page, "admin", "password", address="198.51.100.1")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    assert 890 <= int(locked["Retry-After"]) <= 900
    assert "Too many log-in attempts" in locked.content.decode()


def test_guessing_many_accounts_from_one_address_is_stopped(client, alice, limits):
    answers = [log_in(client, "/accounts/login/", f"user{i}", "guess").status_code for i in range(9)]
    assert answers == [200] * 8 + [429]
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1").status_code == 429
    # Another address is not held up by this one.
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1", "198.51.100.1").status_code == 302


def test_logging_in_clears_the_accounts_mistakes(alice, limits):
    client = Client()
    for _ in range(4):
        assert log_in(client, "/accounts/login/", "alice", "typo").status_code == 200
    assert log_in(client, "/accounts/login/", "Alice ", "alice-secret-1").status_code == 200  # not her name
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1").status_code == 429
    LoginAttempt.objects.all().delete()
    for _ in range(4):
        log_in(client, "/accounts/login/", "alice", "typo")
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1").status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):  # four more mistakes later are not five in a row
        assert log_in(client, "/accounts/login/", "alice", "typo").status_code == 200
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1").status_code == 302


def test_the_lock_ends_when_the_attempts_leave_the_window(client, alice, limits):
    for _ in range(5):
        log_in(client, "/accounts/login/", "alice", "typo")
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1").status_code == 429
    LoginAttempt.objects.update(at=timezone.now() - timedelta(seconds=901))
    assert log_in(client, "/accounts/login/", "alice", "alice-secret-1").status_code == 302
    assert not LoginAttempt.objects.exists()  # old attempts are forgotten, the success cleared hers


def test_viewing_the_login_page_counts_nothing(client, limits):
    for _ in range(20):
        assert client.get("/accounts/login/").status_code == 200
    assert not LoginAttempt.objects.exists()


@pytest.mark.parametrize("proxies, remote, forwarded, expected", [
    (0, "203.0.113.7", "10.0.0.1", "203.0.113.7"),  # no proxy: a client's header is ignored
    (1, "10.0.0.2", "1.1.1.1, 203.0.113.7", "203.0.113.7"),  # what the load balancer saw
    (2, "10.0.0.2", "1.1.1.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
    (1, "10.0.0.2", "", "10.0.0.2"),
    (0, "2001:db8:1:2:3:4:5:6", "", "2001:db8:1:2::/64"),  # one IPv6 client holds a /64
])
def test_the_client_address(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXIES = proxies
    assert services.client_address(remote_addr=remote, forwarded_for=forwarded) == expected
