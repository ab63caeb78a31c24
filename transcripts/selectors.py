"""Reads, always scoped to the person asking: another person's job does not exist."""

from __future__ import annotations

import difflib
import json
import re
from datetime import datetime
from typing import Any

from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from .models import (
    TERMINAL,
    ApiToken,
    Invite,
    Job,
    LoginAttempt,
    PartialTranscript,
    Status,
    TranscriptVersion,
    UploadRecord,
    Webhook,
    WebhookDelivery,
)
from .progress import QUEUED, STARTING_ENDPOINT, WAITING_FOR_MODEL, stage_label
from .search import search, terms
from .speakers import display_name, names

_WORD = re.compile(r"\w+")


def jobs_for_user(user: Any, *, status: str | None = None, query: str | None = None) -> QuerySet[Job]:
    jobs = Job.objects.filter(owner=user)
    if status in Status.values:
        jobs = jobs.filter(status=status)
    if query:
        jobs = search(jobs, query)
    return jobs.only("public_id", "owner_id", "original_name", "status", "duration", "language",
                     "created_at", "finished_at", "failure_reason", *PROGRESS_FIELDS)


def job_for_user(user: Any, public_id: Any) -> Job:
    job = Job.objects.filter(owner=user, public_id=public_id).first() if user.is_authenticated else None
    if job is None:
        raise Http404("No such job")
    return job


def job_result(job: Job) -> dict[str, Any] | None:
    """The model's result JSON for a completed job."""
    if job.status != Status.COMPLETED or not job.output_name:
        return None
    with default_storage.open(job.output_name) as stored:
        result: dict[str, Any] = json.load(stored)
    return result


def transcript_current(job: Job) -> TranscriptVersion | None:
    return job.versions.order_by("-number").first()


def transcript_speakers(job: Job) -> list[dict[str, Any]]:
    """The current version's speakers (names given included); empty without speakers."""
    speakers = job.versions.order_by("-number").values_list("speakers", flat=True).first()
    return list(speakers or [])


def transcript_versions(job: Job) -> QuerySet[TranscriptVersion]:
    # The list shows who and when; each version's segments stay in the database.
    return job.versions.select_related("author").defer("segments").order_by("-number")


def transcript_window(job: Job, start: int, count: int | None) -> tuple[int, int, list[dict[str, Any]]] | None:
    """(version number, segment count, segments[start:start+count]) of the current version,
    sliced by the database so that a two-hour transcript is not decoded to show its first
    page. None when there is no transcript yet."""
    row = job.versions.order_by("-number").values_list("pk", "number").first()
    if row is None:
        return None
    pk, number = row
    end = start + count if count is not None else 2**31 - 1
    vendor = connection.vendor
    if vendor in ("sqlite", "postgresql"):
        with connection.cursor() as cursor:
            cursor.execute(_WINDOW_SQL[vendor], [start, end, pk])
            total, window = cursor.fetchone()
        segments = json.loads(window) if isinstance(window, str) else (window or [])
        return number, total, segments
    segments = TranscriptVersion.objects.get(pk=pk).segments
    return number, len(segments), segments[start:end]


_WINDOW_SQL = {
    "sqlite": """SELECT json_array_length(v.segments),
                        (SELECT coalesce(json_group_array(json(e.value)), '[]')
                           FROM (SELECT value FROM json_each(v.segments)
                                  WHERE CAST(key AS INTEGER) >= %s AND CAST(key AS INTEGER) < %s
                                  ORDER BY CAST(key AS INTEGER)) AS e)
                   FROM transcripts_transcriptversion v WHERE v.id = %s""",
    "postgresql": """SELECT jsonb_array_length(v.segments),
                            (SELECT coalesce(jsonb_agg(e.value ORDER BY e.i), '[]'::jsonb)
                               FROM jsonb_array_elements(v.segments) WITH ORDINALITY AS e(value, i)
                              WHERE e.i - 1 >= %s AND e.i - 1 < %s)::text
                       FROM transcripts_transcriptversion v WHERE v.id = %s""",
}


def job_document(job: Job) -> dict[str, Any] | None:
    """The result to download: the model's JSON, with the current version's segments and
    text (a person's corrections included)."""
    result = job_result(job)
    current = transcript_current(job)
    if result is None or current is None:
        return result
    text = " ".join(seg["text"].strip() for seg in current.segments if seg["text"].strip())
    document = {**result, "text": text, "segments": _merge(result.get("segments", []), current.segments),
                "version": current.number}
    if current.speakers:  # with the names people gave, and talk time as corrected
        document["speakers"] = current.speakers
    return document


def _merge(machine: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Current text and words over the machine's per-segment scores."""
    by_id = {seg["id"]: seg for seg in machine}
    merged = []
    for seg in current:
        base = {k: v for k, v in by_id.get(seg["id"], {}).items() if k != "words"}
        merged.append({**base, **seg})
    return merged


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Words kept, removed and added between two texts: [("same"|"removed"|"added", text)]."""
    old, new = before.split(), after.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("same", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", " ".join(old[i1:i2])))
        if j2 > j1:
            parts.append(("added", " ".join(new[j1:j2])))
    return parts


def changes_against_machine(job: Job) -> list[dict[str, Any]]:
    """What people changed against the machine's transcript: speakers they named
    ({"kind": "name"}), segments they moved to another speaker ({"kind": "speaker"}) and
    segments whose text they corrected, with the word diff ({"kind": "text"})."""
    machine = job.versions.filter(number=0).first()
    current = transcript_current(job)
    if machine is None or current is None or current.number == 0:
        return []
    changes: list[dict[str, Any]] = [
        {"kind": "name", "speaker": s["id"], "label": s["label"], "name": s["name"]}
        for s in current.speakers if s.get("name")]
    shown = names(current.speakers)
    before_shown = {**{s["id"]: display_name(s) for s in machine.speakers}, **shown}
    original = {seg["id"]: seg for seg in machine.segments}
    for seg in current.segments:
        old = original.get(seg["id"], {})
        if old.get("speaker") != seg.get("speaker"):
            changes.append({"kind": "speaker", "id": seg["id"], "start": seg["start"],
                            "before": before_shown.get(old.get("speaker") or "", "nobody"),
                            "after": shown.get(seg.get("speaker") or "", "nobody")})
        before, after = old.get("text", "").strip(), seg["text"].strip()
        if before != after:
            changes.append({"kind": "text", "id": seg["id"], "start": seg["start"],
                            "diff": word_diff(before, after)})
    return changes


def search_hits(user: Any, query: str, jobs: Any) -> list[dict[str, Any]]:
    """For each job found, the first segment that holds a query word: its time and its text
    split into plain and matching parts (the template escapes both)."""
    wanted = terms(query)
    latest: dict[int, TranscriptVersion] = {}
    for found in TranscriptVersion.objects.filter(job__in=[j.pk for j in jobs]).order_by("-number"):
        latest.setdefault(found.job_id, found)
    hits = []
    for job in jobs:
        version = latest.get(job.pk)
        segment = _first_match(version, wanted)
        speaker = names(version.speakers).get(segment.get("speaker") or "") if version and segment else None
        hits.append({"job": job, "start": segment["start"] if segment else None, "speaker": speaker,
                     "parts": _highlight(segment["text"], wanted) if segment else []})
    return hits


def _first_match(version: TranscriptVersion | None, wanted: list[str]) -> dict[str, Any] | None:
    if version is None:
        return None
    for segment in version.segments:
        if any(_matches(word, wanted) for word in _words(segment["text"])):
            found: dict[str, Any] = segment
            return found
    return None


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _matches(word: str, wanted: list[str]) -> bool:
    return any(word.startswith(term) for term in wanted)


def _highlight(text: str, wanted: list[str]) -> list[tuple[bool, str]]:
    """[(is_match, piece)] over the text, matching whole words by their start."""
    parts, last = [], 0
    for found in _WORD.finditer(text):
        if _matches(found.group().lower(), wanted):
            if found.start() > last:
                parts.append((False, text[last:found.start()]))
            parts.append((True, found.group()))
            last = found.end()
    if last < len(text):
        parts.append((False, text[last:]))
    return parts


def job_summary(job: Job) -> dict[str, Any]:
    """What the dashboard shows of a job, for the page and the websocket alike."""
    return {
        **_job_basics(job),
        "progress": job_progress(job),
    }


def _job_basics(job: Job) -> dict[str, Any]:
    return {
        "public_id": str(job.public_id),
        "url": reverse("job-detail", args=[job.public_id]),
        "original_name": job.original_name,
        "status": job.status,
        "status_label": Status(job.status).label,
        "duration": job.duration,
        "language": job.language,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "failure_reason": job.failure_reason,
    }


# ---------------------------------------------------------------- progress of a running job

# Seconds of audio a run transcribes before its time left is estimated (or a quarter of the
# recording, when shorter).
ETA_AFTER_SECONDS = 30.0
PROGRESS_FIELDS = ("run", "progress_run", "progress_stage", "progress_seconds", "progress_duration",
                   "progress_at", "progress_since", "progress_since_seconds", "progress_kept_seconds",
                   "progress_note")


def job_progress(job: Job) -> dict[str, Any] | None:
    """Where a job that has no outcome yet stands: its stage, the seconds of audio done
    (an earlier run's while that one got further: see `note`), the fraction, the seconds
    left at this job's own measured speed, and for a queued job how many jobs are ahead of
    it. None once the job has its outcome."""
    if job.status in TERMINAL:
        return None
    if job.status == Status.QUEUED:
        stage = QUEUED
    elif job.status == Status.SUBMITTED and not job.progress_stage:
        stage = STARTING_ENDPOINT  # AWS: SageMaker has it; the endpoint may be starting from zero
    elif job.progress_run < job.run or not job.progress_stage:
        stage = WAITING_FOR_MODEL  # claimed; the model server has not reported yet
    else:
        stage = job.progress_stage
    kept = job.progress_kept_seconds
    seconds = kept if kept is not None else (job.progress_seconds or 0.0)
    duration = job.progress_duration
    return {
        "stage": stage,
        "stage_label": stage_label(stage),
        "seconds_done": round(seconds, 1),
        "duration": duration,
        "fraction": round(min(seconds / duration, 1.0), 4) if duration else None,
        "eta_seconds": _seconds_left(job, seconds, duration) if kept is None else None,
        "updated_at": job.progress_at.isoformat() if job.progress_at else None,
        "note": job.progress_note,
        "queue_position": _jobs_ahead(job) if job.status == Status.QUEUED else None,
    }


def _seconds_left(job: Job, seconds: float, duration: float | None) -> int | None:
    """The rest of the audio at the speed this run has shown since it began transcribing;
    None until it has done enough audio for its speed to mean something (the first
    window's first words come after the model's warm-up)."""
    if (job.progress_stage != "transcribing" or not duration or job.progress_since is None
            or job.progress_at is None or job.progress_since_seconds is None):
        return None
    done = seconds - job.progress_since_seconds
    elapsed = (job.progress_at - job.progress_since).total_seconds()
    if done < min(ETA_AFTER_SECONDS, duration / 4) or elapsed <= 0:
        return None
    since_report = (timezone.now() - job.progress_at).total_seconds()
    return max(0, round((duration - seconds) * elapsed / done - since_report))


def _jobs_ahead(job: Job) -> int:
    """Everyone's jobs that will be served first: those running now and those queued
    before it. A count only: nothing about them."""
    earlier = Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, pk__lt=job.pk)
    return Job.objects.filter(Q(status__in=(Status.SUBMITTED, Status.PROCESSING))
                              | Q(earlier, status=Status.QUEUED)).count()


def partial_segments(job: Job) -> list[dict[str, Any]] | None:
    """The segments a job without an outcome has so far, in order ({"id", "start", "end",
    "text"}): the current run's, or an earlier run's while that one got further. None when
    there are none (yet, or any more: the outcome replaced them)."""
    row = (PartialTranscript.objects.filter(job_id=job.pk).exclude(job__status__in=TERMINAL)
           .values_list("segments", "kept_segments", "job__progress_kept_seconds").first())
    if row is None:
        return None
    segments, kept_segments, kept_seconds = row
    shown: list[dict[str, Any]] = kept_segments if kept_seconds is not None else segments
    return shown or None


def partial_document(job: Job) -> dict[str, Any] | None:
    """A running job's transcript so far, shaped like the finished one and marked partial;
    None while it has no segments."""
    segments = partial_segments(job)
    if segments is None:
        return None
    return {"partial": True, "text": " ".join(s["text"].strip() for s in segments if s["text"].strip()),
            "language": job.language or None, "duration": job.progress_duration,
            "segments": segments, "progress": job_progress(job)}


def job_settled_text(job_pk: int) -> tuple[Job | None, str]:
    """The job and the text of its current run that no later report will change (the partial
    segments before the run's latest `segments_from`): what a stream may send. Not scoped to
    a person: the caller made the job."""
    job = Job.objects.filter(pk=job_pk).first()
    if job is None or job.status in TERMINAL:
        return job, ""
    partial = PartialTranscript.objects.filter(job_id=job_pk).first()
    if partial is None or partial.settled_before is None:
        return job, ""
    settled = [s for s in partial.segments if s["start"] < partial.settled_before]
    return job, " ".join(text for s in settled if (text := s["text"].strip()))


# ---------------------------------------------------------------- settings: tokens, webhooks

RECENT_DELIVERIES = 20


def api_tokens_for_user(user: Any) -> QuerySet[ApiToken]:
    # Live tokens first, newest first; then the revoked ones.
    return ApiToken.objects.filter(owner=user).order_by(
        F("revoked_at").asc(nulls_first=True), "-created_at", "-id")


def api_token_for_user(user: Any, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(owner=user, pk=token_id).first() if user.is_authenticated else None
    if token is None:
        raise Http404("No such token")
    return token


def webhooks_for_user(user: Any) -> QuerySet[Webhook]:
    """The person's webhooks, each with its newest deliveries in `recent_deliveries`."""
    recent = WebhookDelivery.objects.defer("payload").order_by("-created_at", "-id")[:RECENT_DELIVERIES]
    return (Webhook.objects.filter(owner=user).order_by("-created_at", "-id")
            .prefetch_related(Prefetch("deliveries", queryset=recent, to_attr="recent_deliveries")))


# ---------------------------------------------------------------- limits (docs/security.md)

IN_FLIGHT = (Status.QUEUED, Status.SUBMITTED, Status.PROCESSING)


def uploads_since(user: Any, since: datetime) -> list[tuple[datetime, float]]:
    """The person's accepted uploads from the ledger (deleted jobs included), oldest first:
    when, and the seconds of audio (0 while not yet known)."""
    rows = UploadRecord.objects.filter(owner=user, at__gte=since).order_by("at", "id")
    return [(at, seconds or 0.0) for at, seconds in rows.values_list("at", "audio_seconds")]


def jobs_in_flight() -> int:
    """Everyone's jobs that wait or run: what the service still has to do."""
    return Job.objects.filter(status__in=IN_FLIGHT).count()


def login_attempts_since(*, username: str, address: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
    """Times of the unsuccessful log-in attempts since then, oldest first: for the username,
    and from the address."""
    recent = LoginAttempt.objects.filter(at__gte=since).order_by("at")
    return (list(recent.filter(username=username).values_list("at", flat=True)),
            list(recent.filter(address=address).values_list("at", flat=True)))


def invite_is_open(code: str) -> bool:
    return bool(code) and Invite.objects.filter(code=code, used_at__isnull=True).exists()
