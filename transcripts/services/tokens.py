"""API tokens: made and revoked by their owner; only a hash is stored, the key is shown once."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.utils import timezone

from ..models import ApiToken

PREFIX = "wt_"  # tells a leaked key apart in logs and secret scanners


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_create(*, owner: Any, name: str) -> tuple[ApiToken, str]:
    """A new token and its key (the only time the key exists in the clear)."""
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(owner=owner, name=name.strip()[:100] or "API token",
                                    prefix=key[:10], key_hash=_hash(key))
    return token, key


def token_revoke(*, owner: Any, token_id: int) -> bool:
    return bool(ApiToken.objects.filter(owner=owner, pk=token_id, revoked_at__isnull=True)
                .update(revoked_at=timezone.now()))


def user_for_key(key: str) -> Any:
    """The owner of a live token, or None. Marks the token as used (at most once a minute)."""
    if not key or not key.startswith(PREFIX):
        return None
    token = (ApiToken.objects.select_related("owner")
             .filter(key_hash=_hash(key), revoked_at__isnull=True, owner__is_active=True).first())
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.owner
