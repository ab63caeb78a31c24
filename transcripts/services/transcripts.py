"""A job's transcript versions. Number 0 is the machine's; every save by a person adds the
next number, so nothing is overwritten and any version can be brought back."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..models import Job, TranscriptVersion


class EditConflict(Exception):
    """The transcript changed since the person started editing."""


def machine_segments(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of the model's segments a transcript version keeps."""
    keep = ("id", "start", "end", "text", "words")
    return [{k: segment[k] for k in keep if k in segment} for segment in result.get("segments", [])]


def transcript_save_segment(*, job: Job, author: Any, segment_id: int, text: str,
                            base_number: int) -> TranscriptVersion:
    """A person's correction of one segment becomes the next version. `base_number` is the
    version they edited; if another save came first, nothing is written (EditConflict)."""
    text = " ".join(text.split())
    with transaction.atomic():
        current = _current_version_for_update(job)
        if current.number != base_number:
            raise EditConflict(f"version {current.number} was saved while you edited version "
                               f"{base_number}; reload to see it")
        segments = [dict(s) for s in current.segments]
        matches = [s for s in segments if s["id"] == segment_id]
        if not matches:
            raise ValueError(f"this transcript has no segment {segment_id}")
        segment = matches[0]
        if segment["text"].strip() == text:
            return current  # nothing changed: no new version
        segment["text"] = text
        segment.pop("words", None)  # the machine's word timings no longer match the text
        return _new_version(job, segments, author=author, restored_from=None)


def transcript_restore(*, job: Job, author: Any, number: int) -> TranscriptVersion:
    """Bring back an earlier version as the newest one; history keeps everything."""
    with transaction.atomic():
        _current_version_for_update(job)
        source = job.versions.filter(number=number).first()
        if source is None:
            raise ValueError(f"this transcript has no version {number}")
        return _new_version(job, source.segments, author=author, restored_from=number)


def _current_version_for_update(job: Job) -> TranscriptVersion:
    # Lock the job row: two saves of the same transcript take turns (SQLite locks the
    # database for the transaction anyway).
    Job.objects.select_for_update().filter(pk=job.pk).first()
    current = job.versions.order_by("-number").first()
    if current is None:
        raise ValueError("this job has no transcript yet")
    return current


def _new_version(job: Job, segments: list[dict[str, Any]], *, author: Any, restored_from: int | None) -> TranscriptVersion:
    latest = job.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = TranscriptVersion.objects.create(job=job, number=latest + 1, segments=segments,
                                               author=author, restored_from=restored_from)
    # The job's text follows the newest version, so search finds the corrections.
    Job.objects.filter(pk=job.pk).update(
        transcript_text=" ".join(s["text"].strip() for s in segments if s["text"].strip()))
    return version


