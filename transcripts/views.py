"""Thin views: parse the request, call a selector or a service, render."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import exports, selectors, services, speakers
from .forms import SignUpForm, UploadForm
from .models import Status
from .paging import page_of
from .services import UploadRefused

MAX_SEGMENT_INDEX = 2**31 - 1  # the databases' integer range
# Segments the transcript page renders at once (about ten minutes of speech); the rest
# arrive as JSON once the page is usable, so a two-hour transcript opens as fast.
FIRST_SEGMENTS = 120


class LoginView(auth_views.LoginView):
    """Django's log-in page, which offers sign-up only where SIGNUP_MODE allows it (the
    LoginThrottleMiddleware counts its attempts)."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "signup_mode": settings.SIGNUP_MODE}


def signup(request):
    """SIGNUP_MODE: open to anyone, by invite code, or closed (403: accounts come from staff)."""
    mode = settings.SIGNUP_MODE
    if mode == "closed":
        return render(request, "registration/signup_closed.html", status=403)
    invite = mode == "invite"
    initial = {"invite_code": request.GET.get("invite", "")} if invite else None
    form = SignUpForm(request.POST or None, invite=invite, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_sign_up(username=form.cleaned_data["username"],
                                         password=form.cleaned_data["password1"],
                                         invite_code=form.cleaned_data.get("invite_code", ""))
        except services.SignUpRefused as exc:
            form.add_error("invite_code" if invite else None, str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form, "invite": invite})


@login_required
@require_GET
def dashboard(request):
    status = request.GET.get("status") or None
    query = (request.GET.get("q") or "").strip()
    jobs = selectors.jobs_for_user(request.user, status=status, query=query)
    page = page_of(jobs, request.GET.get("page"), settings.JOBS_PER_PAGE)
    for job in page:
        job.live_progress = selectors.job_progress(job)
    return render(request, "transcripts/dashboard.html", {
        "page": page, "status": status or "", "query": query, "statuses": Status.choices,
        "live": page.number == 1 and not status and not query,
    })


@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    """GET: the upload page. POST: one file (the page sends each file on its own request so
    that each has its own progress bar); answers JSON."""
    if request.method == "GET":
        return render(request, "transcripts/upload.html", {
            "form": UploadForm(), "max_bytes": settings.UPLOAD_MAX_BYTES})
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        message = "; ".join(f"{field}: {' '.join(map(str, errors))}" for field, errors in form.errors.items())
        return JsonResponse({"error": message}, status=400)
    try:
        job = services.job_accept_upload(owner=request.user, upload=form.cleaned_data["file"], options=form.options())
    except UploadRefused as exc:
        return JsonResponse({"error": exc.message}, status=exc.status, headers=exc.headers)
    return JsonResponse({"job": selectors.job_summary(job)}, status=201)


@login_required
@require_GET
def job_detail(request, public_id):
    job = selectors.job_for_user(request.user, public_id)
    window = selectors.transcript_window(job, 0, FIRST_SEGMENTS)
    if window is None:  # no transcript yet: where the job stands, and its segments so far
        return render(request, "transcripts/job_detail.html", {
            "job": job, "progress": selectors.job_progress(job),
            "partial": selectors.partial_segments(job) or []})
    number, total, segments = window
    who = selectors.transcript_speakers(job)
    shown = speakers.for_page(who)
    return render(request, "transcripts/job_detail.html", {
        "job": job, "formats": _formats(who), "version": number, "segments": speakers.rows(segments, who),
        "speakers": shown, "subtitles": exports.SubtitleOptions(),
        "versions": selectors.transcript_versions(job),
        "changes": selectors.changes_against_machine(job) if number else [],
        "transcript": {"version": number, "total": total, "segments": segments,
                       "speakers": {s["id"]: {"name": s["shown"], "colour": s["colour"]} for s in shown},
                       "rest_url": reverse("job-transcript", args=[job.public_id]) + f"?start={len(segments)}"},
    })


def _formats(who: list) -> list[str]:
    # OpenAI's diarized_json is offered where there are speakers to tell apart.
    return [fmt for fmt in exports.FORMATS if fmt != "diarized_json" or who]


@login_required
@require_GET
def job_transcript(request, public_id):
    """The current version's segments from ?start= on: the transcript page loads what did
    not fit its first screenful this way, after the page is already usable."""
    job = selectors.job_for_user(request.user, public_id)
    raw = request.GET.get("start", "0")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_SEGMENT_INDEX:
        return JsonResponse({"error": f"start must be a whole number from 0 to {MAX_SEGMENT_INDEX}"},
                            status=400)
    start = int(raw)
    window = selectors.transcript_window(job, start, None)
    if window is None:
        return JsonResponse({"error": "this job has no transcript yet"}, status=404)
    number, total, segments = window
    return JsonResponse({"version": number, "total": total, "start": start, "segments": segments})


@login_required
@require_POST
def segment_save(request, public_id, segment_id):
    """Save one corrected segment: JSON {"text": ..., "base": version edited}."""
    job = selectors.job_for_user(request.user, public_id)
    try:
        body = json.loads(request.body or b"{}")
        text, base = str(body["text"]), int(body["base"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "send JSON with the segment's text and the version you edited"},
                            status=400)
    if not text.strip():
        return JsonResponse({"error": "a segment cannot be empty"}, status=400)
    try:
        version = services.transcript_save_segment(job=job, author=request.user,
                                                   segment_id=segment_id, text=text, base_number=base)
    except services.EditConflict as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    segment = next(s for s in version.segments if s["id"] == segment_id)
    return JsonResponse({"version": version.number, "segment": segment})


@login_required
@require_POST
def version_restore(request, public_id, number):
    job = selectors.job_for_user(request.user, public_id)
    try:
        services.transcript_restore(job=job, author=request.user, number=number)
    except ValueError:
        raise Http404("No such version") from None
    return redirect("job-detail", public_id=job.public_id)


@login_required
@require_GET
def search_page(request):
    query = (request.GET.get("q") or "").strip()
    page = page_of(selectors.jobs_for_user(request.user, query=query) if query else [],
                   request.GET.get("page"), settings.JOBS_PER_PAGE)
    hits = selectors.search_hits(request.user, query, page.items) if query else []
    return render(request, "transcripts/search.html", {"query": query, "page": page, "hits": hits})


@login_required
@require_GET
def job_status(request, public_id):
    return JsonResponse(selectors.job_summary(selectors.job_for_user(request.user, public_id)))


@login_required
@require_GET
def job_download(request, public_id, fmt):
    """A download of the current version; SRT and VTT take ?max_line_width= and
    ?max_line_count= (exports/subtitles.py)."""
    job = selectors.job_for_user(request.user, public_id)
    result = selectors.job_document(job)
    if result is None or fmt not in exports.FORMATS:
        return HttpResponse("This transcript is not ready.", status=404)
    try:
        subtitles = exports.SubtitleOptions.parse(request.GET.get("max_line_width"),
                                                  request.GET.get("max_line_count"))
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(exports.render(result, fmt, subtitles),
                            content_type=f"{exports.FORMATS[fmt]}; charset=utf-8")
    stem = os.path.splitext(job.original_name)[0] or "transcript"
    extension = "json" if fmt.endswith("_json") else fmt
    suffix = "." + fmt.removesuffix("_json") if fmt.endswith("_json") else ""
    response["Content-Disposition"] = _attachment(f"{stem}{suffix}.{extension}")
    return response


@login_required
@require_GET
def job_audio(request, public_id):
    """The uploaded audio, with byte ranges so the player can seek. From S3, a short-lived
    signed URL instead: the bytes do not pass through the web process."""
    job = selectors.job_for_user(request.user, public_id)
    if getattr(job.audio.storage, "querystring_auth", False):
        return redirect(job.audio.url)
    size = job.audio.size
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("Range", ""))
    if not match or (not match[1] and not match[2]):
        whole = FileResponse(job.audio.open("rb"), content_type="application/octet-stream")
        whole["Accept-Ranges"] = "bytes"
        return whole
    if match[1]:
        start, end = int(match[1]), min(int(match[2] or size - 1), size - 1)
    else:  # the last N bytes
        start, end = max(size - int(match[2]), 0), size - 1
    if start > end or start >= size:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    response = StreamingHttpResponse(_read_range(job.audio, start, end), status=206,
                                     content_type="application/octet-stream")
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    return response


def _read_range(field, start: int, end: int, chunk: int = 256 * 1024):
    with field.open("rb") as handle:
        handle.seek(start)
        left = end - start + 1
        while left > 0:
            data = handle.read(min(chunk, left))
            if not data:
                break
            left -= len(data)
            yield data


@login_required
@require_POST
def job_retry(request, public_id):
    job = selectors.job_for_user(request.user, public_id)
    services.job_retry(job=job)
    return redirect("job-detail", public_id=job.public_id)


@login_required
@require_POST
def job_delete(request, public_id):
    services.job_delete(job=selectors.job_for_user(request.user, public_id))
    return redirect("dashboard")


def _attachment(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def not_found(request, exception=None):
    """404: JSON for the APIs, the site's page for people."""
    if request.path.startswith(("/api/", "/v1/")):
        return JsonResponse({"error": "not found"}, status=404)
    return render(request, "404.html", status=404)
