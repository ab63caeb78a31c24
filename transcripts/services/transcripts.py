"""A job's transcript versions. Number 0 is the machine's; every save by a person adds the
next number, so nothing is overwritten and any version can be brought back."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..models import Job, TranscriptVersion
from ..speakers import Speakers, with_talk_time


class EditConflict(Exception):
    """The transcript changed since the person started editing."""


def machine_segments(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of the model's segments a transcript version keeps."""
    keep = ("id", "start", "end", "text", "words", "speaker")
    return [{k: segment[k] for k in keep if k in segment} for segment in result.get("segments", [])]


def transcript_save_segment(*, job: Job, author: Any, segment_id: int, text: str,
                            base_number: int) -> TranscriptVersion:
    """A person's correction of one segment becomes the next version. `base_number` is the
    version they edited; if another save came first, nothing is written (EditConflict)."""
    text = " ".join(text.split())
    with transaction.atomic():
        current = current_version_for_update(job, base_number)
        segments = [dict(s) for s in current.segments]
        matches = [s for s in segments if s["id"] == segment_id]
        if not matches:
            raise ValueError(f"this transcript has no segment {segment_id}")
        segment = matches[0]
        if segment["text"].strip() == text:
            return current  # nothing changed: no new version
        segment["text"] = text
        segment.pop("words", None)  # the machine's word timings no longer match the text
        return new_version(job, segments, current.speakers, author=author,
                           summary=f"corrected the segment at {segment['start']:.1f} s")


def transcript_restore(*, job: Job, author: Any, number: int) -> TranscriptVersion:
    """Bring back an earlier version as the newest one; history keeps everything."""
    with transaction.atomic():
        current_version_for_update(job)
        source = job.versions.filter(number=number).first()
        if source is None:
            raise ValueError(f"this transcript has no version {number}")
        return new_version(job, source.segments, source.speakers, author=author, restored_from=number)


def current_version_for_update(job: Job, base_number: int | None = None) -> TranscriptVersion:
    """The newest version, with the job's row locked: two saves of the same transcript take
    turns (SQLite locks the database for the transaction anyway). With `base_number`, the
    version the person changed: EditConflict if another save came first."""
    Job.objects.select_for_update().filter(pk=job.pk).first()
    current = job.versions.order_by("-number").first()
    if current is None:
        raise ValueError("this job has no transcript yet")
    if base_number is not None and current.number != base_number:
        raise EditConflict(f"version {current.number} was saved while you edited version "
                           f"{base_number}; reload to see it")
    return current


def new_version(job: Job, segments: list[dict[str, Any]], speakers: Speakers, *, author: Any,
                restored_from: int | None = None, summary: str = "") -> TranscriptVersion:
    """The next version (inside the caller's transaction, after current_version_for_update)."""
    latest = job.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = TranscriptVersion.objects.create(
        job=job, number=latest + 1, segments=segments, speakers=with_talk_time(speakers, segments),
        author=author, restored_from=restored_from, summary=summary[:300])
    # The job's text follows the newest version, so search finds the corrections.
    Job.objects.filter(pk=job.pk).update(
        transcript_text=" ".join(s["text"].strip() for s in segments if s["text"].strip()))
    return version


