"""The transcript page's speaker corrections: name a speaker, move a segment to another
speaker. Each answers JSON; the page then shows the new version in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from . import selectors, services


def _body(request, field: str) -> tuple[str, int] | None:
    """(the field as text, the version the person changed) from a JSON body, or None."""
    try:
        body: Any = json.loads(request.body or b"{}")
        return str(body[field]), int(body["base"])
    except (ValueError, KeyError, TypeError):
        return None


def _correct(request, public_id, field: str, change: Callable[[Any, str, int], Any]) -> Any:
    """Apply one correction from a JSON body {field: ..., "base": version}: the new version,
    or the JSON answer that says why there is none."""
    job = selectors.job_for_user(request.user, public_id)
    parsed = _body(request, field)
    if parsed is None:
        return JsonResponse({"error": f"send JSON with the {field} and the version you changed"}, status=400)
    value, base = parsed
    try:
        return change(job, value, base)
    except services.EditConflict as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)


@login_required
@require_POST
def speaker_rename(request, public_id, speaker_id):
    """JSON {"name": ..., "base": version}: the speaker's name everywhere (empty: the
    machine's label again)."""
    version = _correct(request, public_id, "name", lambda job, name, base: services.transcript_rename_speaker(
        job=job, author=request.user, speaker_id=speaker_id, name=name, base_number=base))
    if isinstance(version, JsonResponse):
        return version
    return JsonResponse({"version": version.number, "speakers": version.speakers})


@login_required
@require_POST
def segment_speaker(request, public_id, segment_id):
    """JSON {"speaker": id or "new", "base": version}: another speaker says this segment."""
    version = _correct(request, public_id, "speaker", lambda job, speaker, base: services.transcript_move_segment(
        job=job, author=request.user, segment_id=segment_id, speaker_id=speaker, base_number=base))
    if isinstance(version, JsonResponse):
        return version
    segment = next(s for s in version.segments if s["id"] == segment_id)
    return JsonResponse({"version": version.number, "segment": segment, "speakers": version.speakers})
