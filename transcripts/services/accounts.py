"""Accounts: sign-up (open, by invite, or closed: SIGNUP_MODE), invites, and the log-in
attempts counted to slow password guessing (docs/security.md)."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..models import Invite, LoginAttempt
from .limits import count_refusal


class SignUpRefused(Exception):
    pass


def invite_create(*, created_by: Any, note: str = "") -> Invite:
    return Invite.objects.create(code=secrets.token_urlsafe(18), note=note[:200], created_by=created_by)


def user_sign_up(*, username: str, password: str, invite_code: str = "") -> Any:
    """Make the account the sign-up form checked, as SIGNUP_MODE allows. With invites, the
    code is spent in the same transaction by a conditional UPDATE: two people racing with
    one code get one account between them."""
    mode = settings.SIGNUP_MODE
    if mode == "closed":
        raise SignUpRefused("sign-up is closed; ask an administrator for an account")
    with transaction.atomic():
        user = get_user_model().objects.create_user(username, password=password)
        if mode == "invite":
            spent = Invite.objects.filter(code=invite_code, used_at__isnull=True).update(
                used_by=user, used_at=timezone.now())
            if not spent or not invite_code:
                transaction.set_rollback(True)
                raise SignUpRefused("this invite code is not valid, or was used already")
    return user


# ---------------------------------------------------------------- log-in attempts

def client_address(*, remote_addr: str, forwarded_for: str) -> str:
    """The client's address as the per-address count keys it: the connection's, or, behind
    TRUSTED_PROXIES proxies, the one the outermost of them saw (what a client writes into
    X-Forwarded-For itself is never trusted). IPv6 addresses count per /64, which one
    client usually holds whole."""
    raw = remote_addr
    hops = settings.TRUSTED_PROXIES
    if hops:
        chain = [part.strip() for part in forwarded_for.split(",") if part.strip()]
        if len(chain) >= hops:
            raw = chain[-hops]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64] or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def login_username(raw: Any) -> str:
    return str(raw or "").strip().lower()[:150]


def login_lockout_seconds(*, username: str, address: str) -> int | None:
    """Seconds until this username may be tried again from this address; None: now."""
    now = timezone.now()
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    by_username, by_address = selectors.login_attempts_since(username=username, address=address,
                                                             since=now - window)
    waits = [wait for wait in (
        count_refusal(by_username, settings.LOGIN_FAILURES_PER_ACCOUNT, window, now) if username else None,
        count_refusal(by_address, settings.LOGIN_FAILURES_PER_ADDRESS, window, now))
        if wait is not None]
    return max(waits) if waits else None


def login_attempt_record(*, username: str, address: str) -> None:
    """Count an attempt before its password is checked (a success removes it again), and
    forget attempts older than the window."""
    now = timezone.now()
    LoginAttempt.objects.filter(at__lt=now - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)).delete()
    LoginAttempt.objects.create(username=username, address=address, at=now)


def login_attempts_clear(*, username: str) -> None:
    """The account's owner got in: their earlier mistakes no longer count against it."""
    LoginAttempt.objects.filter(username=username).delete()
