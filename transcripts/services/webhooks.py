"""A person's webhooks (docs/webhooks.md): made and deleted by their owner; one event per
webhook when a job reaches an outcome; each delivery's state as the delivery worker
(transcripts.workers.webhook_delivery) tries it, claimed with a conditional UPDATE."""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ..models import Job, Status, Webhook, WebhookDelivery
from ..selectors import job_summary
from ..webhook_targets import validate_url

log = logging.getLogger(__name__)

EVENTS = {Status.COMPLETED: "job.completed", Status.FAILED: "job.failed", Status.EXPIRED: "job.failed"}
# Seconds to wait after failed attempt 1, 2, ...; the attempt after the last one is final.
BACKOFF_SECONDS = (10, 60, 5 * 60, 30 * 60, 2 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# A claimed delivery is not due for anyone else for this long: far more than one attempt
# takes, so that only a worker that died mid-send lets another one try it again.
CLAIM_SECONDS = 120
MAX_WEBHOOKS_PER_PERSON = 10
SECRET_PREFIX = "whsec_"


def webhook_create(*, owner: Any, url: str) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (shown to the person once)."""
    url = validate_url(url)
    if Webhook.objects.filter(owner=owner).count() >= MAX_WEBHOOKS_PER_PERSON:
        raise ValueError(f"you already have {MAX_WEBHOOKS_PER_PERSON} webhooks; delete one first")
    secret = SECRET_PREFIX + secrets.token_hex(24)
    webhook = Webhook.objects.create(owner=owner, url=url, secret=secret)
    return webhook, secret


def webhook_delete(*, owner: Any, webhook_id: int) -> bool:
    """Remove the person's webhook and its delivery history; False when it is not theirs."""
    deleted, _ = Webhook.objects.filter(owner=owner, pk=webhook_id).delete()
    return bool(deleted)


def webhook_event_enqueue(*, job: Job) -> int:
    """One pending delivery per active webhook of the job's owner, for a job that reached
    completed, failed or expired. Returns how many were queued. Runs once per outcome:
    outcomes are forward-only, so a duplicate outcome never gets here."""
    event = EVENTS.get(Status(job.status))
    if event is None:
        return 0
    hooks = list(Webhook.objects.filter(owner_id=job.owner_id, active=True))
    if not hooks:
        return 0
    # One event: the same id for every webhook. The summary's "url" is the job page's path.
    payload = {"id": str(uuid.uuid4()), "type": event, "created_at": timezone.now().isoformat(),
               "job": job_summary(job)}
    now = timezone.now()
    WebhookDelivery.objects.bulk_create([
        WebhookDelivery(webhook=hook, event=event, payload=payload, next_attempt_at=now)
        for hook in hooks])
    return len(hooks)


# ---------------------------------------------------------------- deliveries

def deliveries_due(now: datetime) -> Q:
    return Q(state=WebhookDelivery.State.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def delivery_claim(*, delivery_pk: int, now: datetime) -> bool:
    """Take one due delivery by pushing its next attempt forward: a conditional UPDATE, so
    of two workers that saw it due only one wins."""
    return bool(WebhookDelivery.objects.filter(deliveries_due(now), pk=delivery_pk)
                .update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)))


def delivery_record_attempt(*, delivery: WebhookDelivery, now: datetime, status: int | None,
                            error: str, final: bool = False) -> None:
    """Delivered on a 2xx; otherwise the next attempt after its back-off, or failed for
    good after the last one (or at once when `final`)."""
    attempts = delivery.attempts + 1
    fields: dict[str, Any] = {"attempts": attempts, "last_status": status, "last_error": error}
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
