"""Who may make an account: SIGNUP_MODE open, invite (a staff member's single-use code) or
closed (the production default); the log-in page and `make run` say which (docs/security.md)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.conftest import REPO
from transcripts.management.commands.runlocal import Command
from transcripts.models import Invite
from transcripts.services import invite_create

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-42"


def sign_up(client, username, **extra):
    return client.post(reverse("signup"), {"username": username, "password1": PASSWORD,
                                           "password2": PASSWORD, **extra})


def accounts() -> set[str]:
    return set(get_user_model().objects.values_list("username", flat=True))


def test_open_signup_makes_the_account_and_logs_in(client, settings):
    settings.SIGNUP_MODE = "open"
    assert sign_up(client, "carol").status_code == 302 and accounts() == {"carol"}
    assert "Create an account" in client.get(reverse("signup")).content.decode()


def test_closed_signup_makes_no_account(client, settings):
    settings.SIGNUP_MODE = "closed"
    page = client.get(reverse("signup"))
    assert page.status_code == 403 and "ask one for an account" in page.content.decode()
    assert sign_up(client, "mallory").status_code == 403
    assert accounts() == set()
    login_page = client.get(reverse("login")).content.decode()
    assert reverse("signup") not in login_page and "Ask an administrator" in login_page


def test_invite_signup_needs_an_unused_code(client, admin_user, settings):
    settings.SIGNUP_MODE = "invite"
    invite = invite_create(created_by=admin_user, note="for carol")
    assert "Have an invite code?" in client.get(reverse("login")).content.decode()

    for code in ("", "made-up"):
        refused = sign_up(client, "mallory", invite_code=code)
        assert refused.status_code == 200 and "mallory" not in accounts()
    assert "not valid" in refused.content.decode()

    assert sign_up(client, "carol", invite_code=invite.code).status_code == 302
    invite.refresh_from_db()
    assert invite.used_by.username == "carol" and invite.used_at is not None

    client.post(reverse("logout"))
    assert sign_up(client, "dave", invite_code=invite.code).status_code == 200  # single use
    assert "dave" not in accounts()


def test_the_invite_link_fills_in_the_code(client, admin_user, settings):
    settings.SIGNUP_MODE = "invite"
    invite = invite_create(created_by=admin_user)
    page = client.get(reverse("signup"), {"invite": invite.code}).content.decode()
    assert f'value="{invite.code}"' in page


def test_staff_make_invites_in_the_admin(client, admin_user, settings):
    settings.SIGNUP_MODE = "invite"
    client.force_login(admin_user)
    response = client.post("/admin/transcripts/invite/add/", {"note": "for erin"})
    assert response.status_code == 302
    invite = Invite.objects.get()
    assert invite.note == "for erin" and len(invite.code) >= 20 and invite.created_by == admin_user
    listing = client.get("/admin/transcripts/invite/").content.decode()
    assert f"/accounts/signup/?invite={invite.code}" in listing
    client.post(reverse("logout"))
    assert sign_up(client, "erin", invite_code=invite.code).status_code == 302


@pytest.mark.parametrize("mode, says, never", [
    ("open", "Anyone can also sign up at /accounts/signup/", "closed"),
    ("invite", "with an invite code made in the admin", "Anyone"),
    ("closed", "Sign-up is closed", "Anyone"),
])
def test_make_run_says_who_may_sign_up(alice, settings, mode, says, never):
    settings.SIGNUP_MODE = mode
    out = io.StringIO()
    Command(stdout=out)._first_admin()
    assert says in out.getvalue() and never not in out.getvalue()


def _signup_mode(**env) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SIGNUP_MODE")}
    full.update(env)
    return subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c",
                           "from django.conf import settings; print(settings.SIGNUP_MODE)"],
                          cwd=REPO, env=full, capture_output=True, text=True, timeout=120)


def test_signup_is_closed_in_production_unless_opened(tmp_path):
    production = {"VAR_DIR": str(tmp_path), "DJANGO_ENV": "production", "DJANGO_SECRET_KEY": "x" * 50}
    assert _signup_mode(**production).stdout.strip() == "closed"
    assert _signup_mode(**production, SIGNUP_MODE="invite").stdout.strip() == "invite"
    assert _signup_mode(VAR_DIR=str(tmp_path)).stdout.strip() == "open"
    bad = _signup_mode(VAR_DIR=str(tmp_path), SIGNUP_MODE="sometimes")
    assert bad.returncode != 0 and "SIGNUP_MODE must be one of open, invite, closed" in bad.stderr
