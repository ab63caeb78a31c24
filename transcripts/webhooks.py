"""Webhooks: a person's URLs that hear about their finished jobs (docs/webhooks.md).

Writes and the delivery loop live here: `webhook_create` / `webhook_delete` for the person,
`enqueue_job_event` when an outcome lands (called on commit by services.job_record_outcome),
and `deliver_due` / `run_deliveries`, which POST the signed events with retries.

Targets are checked when the webhook is made and again, against a fresh DNS answer, before
every attempt: a webhook must not become a way to reach the server's own network. The
request then goes to the very address that was checked (no second DNS lookup).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from .models import Job, Status, Webhook, WebhookDelivery

log = logging.getLogger(__name__)

EVENTS = {Status.COMPLETED: "job.completed", Status.FAILED: "job.failed", Status.EXPIRED: "job.failed"}
# Seconds to wait after failed attempt 1, 2, ...; the attempt after the last one is final.
BACKOFF_SECONDS = (10, 60, 5 * 60, 30 * 60, 2 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
TIMEOUT_SECONDS = 10
# A claimed delivery is not due for anyone else for this long: far more than one attempt
# takes, so that only a worker that died mid-send lets another one try it again.
CLAIM_SECONDS = 120
POLL_SECONDS = 2.0
MAX_WEBHOOKS_PER_PERSON = 10
SECRET_PREFIX = "whsec_"
USER_AGENT = "whisper-transcripts-webhooks/1"
MAX_ADDRESSES = 3  # of a host's addresses, tried in turn while none accepts a connection
TLS_VERIFY: bool | str = True  # certificate check: True, or a CA bundle path
_ERROR_CHARS = 500


class RefusedTarget(ValueError):
    """The webhook's host resolves to an address the server must not call."""


# ---------------------------------------------------------------- signing

def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """HMAC-SHA256 (hex) of "{timestamp}.{body}" with the webhook's secret."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    message = f"{timestamp}.{body}".encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def request_headers(*, secret: str, event_id: str, event: str, timestamp: int, body: str) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Id": event_id,
        "X-Webhook-Event": event,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": f"sha256={sign(secret, timestamp, body)}",
    }


# ---------------------------------------------------------------- targets

def _refused_reason(address: str) -> str | None:
    """Why the server must not call this address, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified:
        return "loopback or private networks"
    if ip.is_multicast:
        return "multicast addresses"
    if ip.is_reserved or not ip.is_global:  # not global: e.g. 100.64.0.0/10 (carrier NAT)
        return "reserved addresses"
    return None


def resolve_target(url: str) -> list[str]:
    """The addresses the URL's host resolves to, all of them allowed; raises ValueError
    (RefusedTarget for a forbidden address) with a message a person can read."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("a webhook URL must start with http:// or https:// and name a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError("the webhook URL's port is not a number between 0 and 65535") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"the webhook host {host} could not be resolved ({exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise ValueError(f"the webhook host {host} has no address")
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            reason = _refused_reason(address)
            if reason:
                raise RefusedTarget(f"webhook targets on {reason} are not allowed: {address}")
    return addresses


def validate_url(url: str) -> str:
    """The cleaned URL, or ValueError saying what is wrong with it."""
    url = (url or "").strip()
    if not url:
        raise ValueError("enter the URL that should receive the events")
    if len(url) > Webhook._meta.get_field("url").max_length:
        raise ValueError("the webhook URL is longer than 500 characters")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValueError("enter a full http:// or https:// URL, "
                         "e.g. https://example.com/hooks/transcripts") from None
    if urlsplit(url).username is not None:
        raise ValueError("a webhook URL must not hold a user name or password; check the signature instead")
    resolve_target(url)
    return url


# ---------------------------------------------------------------- the person's webhooks

def webhook_create(*, owner, url: str) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (shown to the person once)."""
    url = validate_url(url)
    if Webhook.objects.filter(owner=owner).count() >= MAX_WEBHOOKS_PER_PERSON:
        raise ValueError(f"you already have {MAX_WEBHOOKS_PER_PERSON} webhooks; delete one first")
    secret = SECRET_PREFIX + secrets.token_hex(24)
    webhook = Webhook.objects.create(owner=owner, url=url, secret=secret)
    return webhook, secret


def webhook_delete(*, owner, webhook_id: int) -> bool:
    """Remove the person's webhook and its delivery history; False when it is not theirs."""
    deleted, _ = Webhook.objects.filter(owner=owner, pk=webhook_id).delete()
    return bool(deleted)


# ---------------------------------------------------------------- events

def event_payload(job: Job, event: str) -> dict:
    from .selectors import job_summary

    summary = job_summary(job)  # its "url" is the job page's absolute path ("/jobs/<id>/")
    return {"id": str(uuid.uuid4()), "type": event, "created_at": timezone.now().isoformat(),
            "job": summary}


def enqueue_job_event(job_pk: int) -> int:
    """One pending delivery per active webhook of the job's owner, for a job that reached
    completed, failed or expired. Returns how many were queued. Runs once per outcome:
    outcomes are forward-only, so a duplicate outcome never gets here."""
    job = Job.objects.filter(pk=job_pk).first()
    event = EVENTS.get(job.status) if job is not None else None
    if event is None:
        return 0
    hooks = list(Webhook.objects.filter(owner_id=job.owner_id, active=True))
    if not hooks:
        return 0
    payload = event_payload(job, event)  # one event: the same id for every webhook
    now = timezone.now()
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(webhook=hook, event=event, payload=payload, next_attempt_at=now)
        for hook in hooks])
    return len(hooks)


# ---------------------------------------------------------------- delivery

def _due(now) -> Q:
    return Q(state=WebhookDelivery.State.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def due_count(now=None) -> int:
    return WebhookDelivery.objects.filter(_due(now or timezone.now())).count()


def claim(pk: int, now) -> bool:
    """Take one due delivery by pushing its next attempt forward: a conditional UPDATE, so
    of two workers that saw it due only one wins."""
    return bool(WebhookDelivery.objects.filter(_due(now), pk=pk)
                .update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)))


def deliver_due(now=None, limit: int = 20) -> int:
    """Attempt up to `limit` due deliveries, one at a time; returns how many were attempted.
    `now` (for tests) replaces the clock for what is due and when the next attempt is."""
    attempted = 0
    for _ in range(limit):
        current = now or timezone.now()
        candidates = (WebhookDelivery.objects.filter(_due(current))
                      .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:5])
        for pk in candidates:
            if claim(pk, current):
                _attempt(pk, current)
                attempted += 1
                break
        else:
            break  # nothing due (or every candidate was taken by another worker)
    return attempted


def _attempt(pk: int, now) -> None:
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=pk).first()
    if delivery is None:  # its webhook was deleted meanwhile
        return
    hook = delivery.webhook
    if not hook.active:
        _record(delivery, now, status=None, error="the webhook was turned off", final=True)
        return
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    try:
        addresses = resolve_target(hook.url)
    except ValueError as exc:  # refused or unresolvable: no request is made
        _record(delivery, now, status=None, error=str(exc))
        return
    headers = request_headers(secret=hook.secret, event_id=str(delivery.payload.get("id", delivery.pk)),
                              event=delivery.event, timestamp=int(time.time()), body=body)
    status, error = None, ""
    for address in addresses[:MAX_ADDRESSES]:  # the next address only if this one took no connection
        status, error, connected = _post(hook.url, address, headers, body.encode("utf-8"))
        if connected:
            break
    _record(delivery, now, status=status, error=error)


def _post(url: str, address: str, headers: dict, body: bytes) -> tuple[int | None, str, bool]:
    """(HTTP status or None, error text or "", whether a connection was made) of one POST
    to one checked address."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy or netrc from the environment: straight to the address
        session.mount("http://", _PinnedAdapter(address))
        session.mount("https://", _PinnedAdapter(address))
        # The Host header names the URL's host (IDNA-encoded, as requests sends it), not the address.
        headers = {**headers, "Host": urlsplit(requests.Request("POST", url).prepare().url).netloc}
        try:
            with session.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS,
                              allow_redirects=False, stream=True, verify=TLS_VERIFY) as response:
                if 200 <= response.status_code < 300:
                    return response.status_code, "", True
                excerpt = response.raw.read(_ERROR_CHARS, decode_content=True).decode("utf-8", "replace")
                note = " (redirects are not followed)" if response.is_redirect else ""
                return (response.status_code,
                        f"HTTP {response.status_code}{note}: {excerpt.strip()}"[:_ERROR_CHARS], True)
        except requests.ConnectTimeout:
            return None, f"could not connect to {address} within {TIMEOUT_SECONDS} s", False
        except requests.Timeout:
            return None, f"no answer within {TIMEOUT_SECONDS} s", True
        except requests.ConnectionError as exc:
            connected = not _no_connection(exc)
            return None, f"could not deliver to {address}: {_reason(exc)}"[:_ERROR_CHARS], connected
        except requests.RequestException as exc:
            return None, f"could not deliver: {_reason(exc)}"[:_ERROR_CHARS], True


def _no_connection(exc: requests.ConnectionError) -> bool:
    """The connection was never made (refused, unreachable): nothing was sent, so another
    address of the same host may be tried."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _reason(exc: Exception) -> str:
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", inner)
    if isinstance(reason, NewConnectionError):  # drop urllib3's "HTTPConnection(host=…): "
        return str(reason).split("): ", 1)[-1]
    return str(reason)


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address that was checked, while TLS still verifies the URL's host
    name (SNI and certificate): DNS cannot change between the check and the request."""

    def __init__(self, address: str):
        self.address = address
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"]
        host_params["host"] = self.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs


def _record(delivery: WebhookDelivery, now, *, status: int | None, error: str, final: bool = False) -> None:
    attempts = delivery.attempts + 1
    fields = {"attempts": attempts, "last_status": status, "last_error": error}
    if status is not None and 200 <= status < 300:
        fields.update(state=WebhookDelivery.State.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif final or attempts >= MAX_ATTEMPTS:
        fields.update(state=WebhookDelivery.State.FAILED, next_attempt_at=None)
        log.warning("webhook delivery %s failed for good after %d attempt(s): %s",
                    delivery.pk, attempts, error)
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
        log.info("webhook delivery %s: attempt %d failed (%s); next try at %s",
                 delivery.pk, attempts, error, fields["next_attempt_at"])
    WebhookDelivery.objects.filter(pk=delivery.pk, state=WebhookDelivery.State.PENDING).update(**fields)


# ---------------------------------------------------------------- the loop

def _deliver_step() -> int:
    close_old_connections()
    try:
        return deliver_due()
    except Exception:  # one bad delivery must not stop the loop
        log.exception("webhook delivery step failed")
        return 0
    finally:
        close_old_connections()


async def run_deliveries(poll_seconds: float = POLL_SECONDS) -> None:
    """Deliver due events for as long as the process runs (the web process's lifespan, or
    `manage.py deliver_webhooks`)."""
    step = sync_to_async(_deliver_step, thread_sensitive=False)
    log.info("webhooks: delivering due events every %.0f s", poll_seconds)
    while True:
        if await step() == 0:
            await asyncio.sleep(poll_seconds)
