"""What one person, and everyone together, may ask of the service (docs/security.md).

Quotas count the ledger of accepted uploads (`UploadRecord`), which deleting a job does not
shrink: uploads in the last hour and the last 24 hours, and hours of audio in the last 24
hours. Over a quota the answer is 429 with the seconds until the oldest counted upload falls
out of its window; over the global queue limit it is 503 with a short wait."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from .. import selectors

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BUSY_RETRY_SECONDS = 60  # a busy queue drains by the minute; a client need not wait longer to ask


class UploadRefused(Exception):
    """An upload the service will not take; the edges answer `status`, and `Retry-After`
    when `retry_after` (seconds) is given."""

    def __init__(self, message: str, status: int = 400, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After, for a refusal that passes with time (429, 503)."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def count_refusal(times: list[datetime], limit: int, window: timedelta, now: datetime) -> int | None:
    """Seconds until fewer than `limit` of these times (oldest first) lie in the window;
    None when there is room now."""
    inside = [t for t in times if t >= now - window]
    if not limit or len(inside) < limit:
        return None
    return _seconds_until(inside[len(inside) - limit] + window, now)


def upload_check_queue(*, name: str) -> None:
    """The global queue limit: everyone's jobs waiting or running."""
    limit = settings.QUEUE_MAX_JOBS
    if limit and selectors.jobs_in_flight() >= limit:
        raise UploadRefused(f"{name}: the service is busy ({limit} jobs are waiting or running); "
                            "please try again in a minute", status=503, retry_after=BUSY_RETRY_SECONDS)


def upload_check_quota(*, owner: Any, name: str, audio_seconds: float | None = None) -> None:
    """The person's quotas. Without `audio_seconds`: the counts, and whether any audio time
    is left today; with it (ffprobe's duration): whether this file fits in what is left."""
    now = timezone.now()
    records = selectors.uploads_since(owner, now - DAY)
    times = [at for at, _ in records]
    for limit, window, words in ((settings.UPLOADS_PER_HOUR, HOUR, "in the last hour"),
                                 (settings.UPLOADS_PER_DAY, DAY, "in the last 24 hours")):
        wait = count_refusal(times, limit, window, now)
        if wait is not None:
            raise UploadRefused(
                f"{name}: you have uploaded {sum(t >= now - window for t in times)} files {words}, "
                f"the limit is {limit}; please wait a little", status=429, retry_after=wait)
    allowance = settings.AUDIO_HOURS_PER_DAY * 3600.0
    if not allowance:
        return
    if audio_seconds is not None and audio_seconds > allowance:
        raise UploadRefused(f"{name}: the file is {audio_seconds / 3600:.1f} hours long, more than the "
                            f"{settings.AUDIO_HOURS_PER_DAY} hours of audio a person may send in a day",
                            status=413)
    used = sum(seconds for _, seconds in records)
    needed = audio_seconds or 0.0
    if used + needed <= allowance and used < allowance:
        return
    for at, seconds in records:  # the oldest leave the window first
        used -= seconds
        if used + needed <= allowance and used < allowance:
            wait = _seconds_until(at + DAY, now)
            break
    else:
        wait = _seconds_until(now + DAY, now)
    raise UploadRefused(f"{name}: this would go past your {settings.AUDIO_HOURS_PER_DAY} hours of audio "
                        f"in 24 hours ({max(0.0, allowance - sum(s for _, s in records)) / 3600:.1f} "
                        "hours left); please wait a little", status=429, retry_after=wait)
