"""Webhook delivery: POSTs due events, signed, to the very address that was checked, with
retries on a back-off (services.webhooks keeps each delivery's state)."""

from __future__ import annotations

import json
import time
from datetime import datetime

from django.utils import timezone

from ..models import WebhookDelivery
from ..services.webhooks import deliveries_due, delivery_claim, delivery_record_attempt
from ..webhook_signing import request_headers
from ..webhook_targets import MAX_ADDRESSES, post_to_address, resolve_target

POLL_SECONDS = 2.0
BATCH = 20  # attempts per step, so that a stop request is heard between batches
CANDIDATES = 5  # due deliveries looked at per claim, in case another worker wins the first


def deliver_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """Attempt up to `limit` due deliveries, one at a time; returns how many were attempted.
    `now` (for tests) replaces the clock for what is due and when the next attempt is."""
    attempted = 0
    for _ in range(limit):
        current = now or timezone.now()
        candidates = (WebhookDelivery.objects.filter(deliveries_due(current))
                      .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:CANDIDATES])
        for pk in candidates:
            if delivery_claim(delivery_pk=pk, now=current):
                _attempt(pk, current)
                attempted += 1
                break
        else:
            break  # nothing due (or every candidate was taken by another worker)
    return attempted


def due_count(now: datetime | None = None) -> int:
    return WebhookDelivery.objects.filter(deliveries_due(now or timezone.now())).count()


def step() -> int:
    return deliver_due()


def _attempt(pk: int, now: datetime) -> None:
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=pk).first()
    if delivery is None:  # its webhook was deleted meanwhile
        return
    hook = delivery.webhook
    if not hook.active:
        delivery_record_attempt(delivery=delivery, now=now, status=None,
                                error="the webhook was turned off", final=True)
        return
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    try:
        addresses = resolve_target(hook.url)
    except ValueError as exc:  # refused or unresolvable: no request is made
        delivery_record_attempt(delivery=delivery, now=now, status=None, error=str(exc))
        return
    headers = request_headers(secret=hook.secret, event_id=str(delivery.payload.get("id", delivery.pk)),
                              event=delivery.event, timestamp=int(time.time()), body=body)
    status: int | None = None
    error = ""
    for address in addresses[:MAX_ADDRESSES]:  # the next address only if this one took no connection
        status, error, connected = post_to_address(hook.url, address, headers, body.encode("utf-8"))
        if connected:
            break
    delivery_record_attempt(delivery=delivery, now=now, status=status, error=error)
