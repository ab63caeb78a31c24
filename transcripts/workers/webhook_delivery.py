"""Webhook delivery: POSTs due events, signed, to the very address that was checked, with
retries on a back-off (services.webhooks keeps each delivery's state).

A step claims a batch of due deliveries and sends them at once, each on a thread of its own,
at most PER_TARGET to one host, so a slow or dead receiver holds only its own deliveries
(for one connect timeout, or one answer timeout) and never everyone else's. The database
is read and written on the calling thread; the threads only resolve and send."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.utils import timezone

from ..models import WebhookDelivery
from ..services.webhooks import deliveries_due, delivery_claim, delivery_record_attempt
from ..webhook_signing import request_headers
from ..webhook_targets import MAX_ADDRESSES, post_to_address, resolve_target

POLL_SECONDS = 2.0
BATCH = 20  # deliveries sent at once by one step
PER_TARGET = 2  # of them at most to one host:port
LOOKAHEAD = 5  # due deliveries looked at per batch place, for those held back or claimed elsewhere


@dataclass(frozen=True)
class _Request:
    delivery: WebhookDelivery
    headers: dict[str, str]
    body: bytes


def deliver_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """Attempt up to `limit` due deliveries at once; returns how many were attempted.
    `now` (for tests) replaces the clock for what is due and when the next attempt is."""
    current = now or timezone.now()
    requests = [request for pk in _claim_batch(current, limit)
                if (request := _prepare(pk, current)) is not None]
    if requests:
        with ThreadPoolExecutor(max_workers=len(requests), thread_name_prefix="webhook") as pool:
            outcomes = list(pool.map(_send, requests))
        for request, (status, error) in zip(requests, outcomes):
            delivery_record_attempt(delivery=request.delivery, now=current, status=status, error=error)
    return len(requests)


def due_count(now: datetime | None = None) -> int:
    return WebhookDelivery.objects.filter(deliveries_due(now or timezone.now())).count()


def step() -> int:
    return deliver_due()


def _claim_batch(now: datetime, limit: int) -> list[int]:
    candidates = (WebhookDelivery.objects.filter(deliveries_due(now)).order_by("next_attempt_at", "id")
                  .values_list("pk", "webhook__url")[: limit * LOOKAHEAD])
    per_target: Counter[str] = Counter()
    claimed: list[int] = []
    for pk, url in candidates:
        target = urlsplit(url).netloc.lower()
        if per_target[target] < PER_TARGET and delivery_claim(delivery_pk=pk, now=now):
            per_target[target] += 1
            claimed.append(pk)
            if len(claimed) == limit:
                break
    return claimed


def _prepare(pk: int, now: datetime) -> _Request | None:
    """The signed request for a claimed delivery, or None when there is nothing to send."""
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=pk).first()
    if delivery is None:  # its webhook was deleted meanwhile
        return None
    if not delivery.webhook.active:
        delivery_record_attempt(delivery=delivery, now=now, status=None,
                                error="the webhook was turned off", final=True)
        return None
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    headers = request_headers(secret=delivery.webhook.secret,
                              event_id=str(delivery.payload.get("id", delivery.pk)),
                              event=delivery.event, timestamp=int(time.time()), body=body)
    return _Request(delivery, headers, body.encode("utf-8"))


def _send(request: _Request) -> tuple[int | None, str]:
    """(HTTP status or None, error text): the address is checked again, then each of the
    host's addresses is tried until one takes the connection."""
    url = request.delivery.webhook.url
    try:
        addresses = resolve_target(url)
    except ValueError as exc:  # refused or unresolvable: no request is made
        return None, str(exc)
    status: int | None = None
    error = ""
    for address in addresses[:MAX_ADDRESSES]:
        status, error, connected = post_to_address(url, address, request.headers, request.body)
        if connected:
            break
    return status, error
