"""The JSON API under /api/v1/ (described by contracts/api/openapi.json) and the
OpenAI-compatible /v1/audio/transcriptions and /v1/audio/translations.

Authentication: `Authorization: Bearer <token>` with a token made on the settings page, or
the browser's session (then with Django's CSRF check, as for any form). Errors are JSON with
a message a person can read."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from . import exports, openai_stream, selectors, services
from .forms import UploadForm, speaker_options
from .models import TERMINAL, Job, Status
from .paging import page_of
from .services import UploadRefused

OPENAPI = Path(settings.BASE_DIR) / "contracts" / "api" / "openapi.json"
WAIT_POLL_SECONDS = 0.25
KEEP_ALIVE_SECONDS = 15  # a stream says something this often, so that no proxy times it out


# ---------------------------------------------------------------------- authentication

def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() in ("bearer", "token") and key.strip() else None


def _authenticate(request):
    """The user behind the request, or an error response. A token needs no CSRF token; a
    session does, for anything that changes state."""
    key = _bearer(request)
    if key is not None:
        user = services.user_for_key(key)
        return (user, None) if user else (None, "this API token is not valid (revoked or mistyped)")
    if request.user.is_authenticated:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            reason = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
            if reason is not None:
                return None, "CSRF check failed: send the X-CSRFToken header with a session"
        return request.user, None
    return None, "authentication needed: send `Authorization: Bearer <token>` (make one on /settings/)"


def api_view(*methods, params: tuple[str, ...] = ()):
    """JSON API view: allowed methods and query parameters, authentication, JSON errors for
    refusals. An unknown query parameter is refused rather than silently ignored, so a typo
    does not quietly return something else."""
    def wrap(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error(f"{request.method} is not allowed here", 405)
                response["Allow"] = ", ".join(methods)
                return response
            unknown = sorted(set(request.GET) - set(params))
            if unknown:
                return error(f"unknown query parameter: {', '.join(unknown)}", 400)
            user, problem = _authenticate(request)
            if user is None:
                status = 403 if problem.startswith("CSRF") else 401
                response = error(problem, status)
                if status == 401:
                    response["WWW-Authenticate"] = 'Bearer realm="api"'
                return response
            request.user = user
            try:
                return view(request, *args, **kwargs)
            except Http404:  # another person's job does not exist either
                return error("no such job", 404)
        return wrapper
    return wrap


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


# ---------------------------------------------------------------------- /api/v1/

def job_json(request, job: Job) -> dict:
    data = selectors.job_summary(job)
    data.update(
        url=request.build_absolute_uri(reverse("api-job", args=[job.public_id])),
        page_url=request.build_absolute_uri(data["url"]),
        transcript_url=request.build_absolute_uri(reverse("api-transcript", args=[job.public_id]))
        if job.status == Status.COMPLETED else None,
        options=job.options, made_with=job.made_with or None,
    )
    return data


@api_view("GET", "POST", params=("status", "q", "page", "per_page"))
def jobs(request):
    if request.method == "POST":
        return _create(request)
    status = request.GET.get("status")
    if status is not None and status not in Status.values:
        return error(f"status must be one of {', '.join(Status.values)}", 400)
    try:
        number = _int_param(request, "page", 1, 1, 10_000)
        per_page = _int_param(request, "per_page", settings.JOBS_PER_PAGE, 1, 100)
    except ValueError as exc:
        return error(str(exc), 400)
    page = page_of(selectors.jobs_for_user(request.user, status=status, query=request.GET.get("q")),
                   number, per_page)
    link = lambda n: request.build_absolute_uri(f"{request.path}?{_query(request, page=n)}")
    return JsonResponse({
        "results": [job_json(request, job) for job in page],
        "page": page.number,
        "next": link(page.number + 1) if page.has_next else None,
        "previous": link(page.number - 1) if page.has_previous else None,
    })


def _int_param(request, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def _query(request, **changes) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    return params.urlencode()


def _create(request):
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        fields = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items())
        return error(fields, 400)
    try:
        job = services.job_accept_upload(owner=request.user, upload=form.cleaned_data["file"], options=form.options())
    except UploadRefused as exc:
        response = error(exc.message, exc.status)
        for header, value in exc.headers.items():
            response[header] = value
        return response
    response = JsonResponse(job_json(request, job), status=201)
    response["Location"] = reverse("api-job", args=[job.public_id])
    return response


@api_view("GET", "DELETE")
def job(request, public_id):
    found = selectors.job_for_user(request.user, public_id)
    if request.method == "DELETE":
        services.job_delete(job=found)
        return HttpResponse(status=204)
    return JsonResponse(job_json(request, found))


@api_view("GET", params=("format", "max_line_width", "max_line_count"))
def transcript(request, public_id):
    found = selectors.job_for_user(request.user, public_id)
    fmt = request.GET.get("format", "json")
    if fmt not in exports.FORMATS:
        return error(f"format must be one of {', '.join(exports.FORMATS)}", 400)
    try:
        subtitles = exports.SubtitleOptions.parse(request.GET.get("max_line_width"),
                                                  request.GET.get("max_line_count"))
    except ValueError as exc:
        return error(str(exc), 400)
    document = selectors.job_document(found)
    if document is None and found.status not in TERMINAL:
        document = selectors.partial_document(found)  # the segments made so far, marked partial
    if document is None:
        return error(f"the transcript is not ready: the job is {found.status}", 409)
    response = HttpResponse(exports.render(document, fmt, subtitles),
                            content_type=f"{exports.FORMATS[fmt]}; charset=utf-8")
    if document.get("partial"):
        response["Transcript-Partial"] = "true"  # for the formats that cannot say so themselves
    return response


@api_view("POST")
def retry(request, public_id):
    found = selectors.job_for_user(request.user, public_id)
    if not services.job_retry(job=found):
        return error(f"only failed or expired jobs can be retried; this one is {found.status}", 409)
    found.refresh_from_db()
    return JsonResponse(job_json(request, found))


def openapi(request):
    return HttpResponse(OPENAPI.read_bytes(), content_type="application/json")


# ---------------------------------------------------------------------- OpenAI-compatible

OPENAI_FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
# Fields of OpenAI's request that name speakers by samples of their voices: not offered yet.
KNOWN_SPEAKERS = ("known_speaker_names[]", "known_speaker_names", "known_speaker_references[]",
                  "known_speaker_references")


def _no_view(request: HttpRequest) -> HttpResponse:
    """Stands in for a view where Django's CSRF check asks for one; it is never called."""
    return HttpResponse()


def openai_error(message: str, status: int, code: str | None = None, param: str | None = None):
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    return JsonResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                        status=status)


@csrf_exempt
async def openai_transcriptions(request):
    return await _openai(request, task="transcribe")


@csrf_exempt
async def openai_translations(request):
    return await _openai(request, task="translate")


async def _openai(request, *, task: str):
    """Like OpenAI's audio endpoints: the request becomes a normal job; the answer comes when
    it is done, or 202 with the job's URL if it takes longer than OPENAI_WAIT_SECONDS. Async,
    so that a waiting call holds no worker thread."""
    if request.method != "POST":
        return openai_error("use POST", 405)
    key = _bearer(request)
    user = await sync_to_async(services.user_for_key)(key) if key else None
    if user is None:
        return openai_error("Incorrect API key provided: make a token on /settings/", 401,
                            code="invalid_api_key")
    post, files = await sync_to_async(lambda: (request.POST, request.FILES))()
    response_format = post.get("response_format") or "json"
    if response_format not in OPENAI_FORMATS:
        return openai_error(f"response_format must be one of {', '.join(OPENAI_FORMATS)}", 400,
                            param="response_format")
    if "file" not in files:
        return openai_error("a file is required", 400, param="file")
    stream = (post.get("stream") or "").lower() in ("true", "1")
    if stream and response_format not in ("json", "text"):
        return openai_error("stream=true gives text events: use response_format json or text", 400,
                            param="stream")
    granularities = post.getlist("timestamp_granularities[]") or post.getlist("timestamp_granularities")
    try:
        speakers = _openai_speakers(post, response_format, task)
    except ValueError as exc:
        return openai_error(str(exc), 400)
    options = {"language": (post.get("language") or None) if task == "transcribe" else None,
               "task": task, "word_timestamps": "word" in granularities,
               "initial_prompt": (post.get("prompt") or "").strip()[:1000] or None, **speakers}
    try:
        created = await sync_to_async(services.job_accept_upload)(owner=user, upload=files["file"], options=options)
    except UploadRefused as exc:
        response = openai_error(exc.message, exc.status, param="file")
        for header, value in exc.headers.items():
            response[header] = value
        return response
    if stream:
        response = StreamingHttpResponse(_events(created.pk), content_type=openai_stream.MEDIA_TYPE)
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # a proxy must pass each event on as it comes
        return response
    finished = await _wait(created.pk, settings.OPENAI_WAIT_SECONDS)
    if finished is None or finished.status not in TERMINAL:
        url = request.build_absolute_uri(reverse("api-job", args=[created.public_id]))
        return JsonResponse({"id": str(created.public_id), "object": "transcription.job",
                             "status": "in_progress", "url": url}, status=202, headers={"Location": url})
    if finished.status != Status.COMPLETED:
        return openai_error(finished.failure_reason or f"the job {finished.status}", 400, code="job_failed")
    document = await sync_to_async(selectors.job_document)(finished)
    if document is None:
        return openai_error("the transcript is missing from storage", 500)
    if response_format == "json":
        return JsonResponse({"text": document.get("text", "")})
    if response_format == "text":
        return HttpResponse(document.get("text", "") + "\n", content_type="text/plain; charset=utf-8")
    if response_format == "verbose_json" and task == "translate":
        document = {**document, "options": {**document.get("options", {}), "task": "translate"}}
    return HttpResponse(exports.render(document, response_format),
                        content_type=f"{exports.FORMATS[response_format]}; charset=utf-8")


def _openai_speakers(post, response_format: str, task: str) -> dict:
    """Speakers on the OpenAI-compatible endpoint: asked for as OpenAI asks (response_format
    diarized_json, or a model whose name says "diarize"), or with our own fields (diarize,
    speakers, min_speakers, max_speakers, channels_as_speakers), which a stock client sends
    in `extra_body`."""
    if any(post.get(field) for field in KNOWN_SPEAKERS):
        raise ValueError("known_speaker_names and known_speaker_references are not supported: "
                         "name the speakers on the transcript page or in the API instead")
    diarized = response_format == "diarized_json"
    if diarized and task != "transcribe":
        raise ValueError("response_format diarized_json is for transcriptions, not translations")

    def count(name: str) -> int | None:
        raw = (post.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise ValueError(f"{name} must be a whole number")
        return int(raw)

    def flag(name: str) -> bool:
        return (post.get(name) or "").strip().lower() in ("true", "1", "yes", "on")

    wanted = diarized or "diarize" in (post.get("model") or "").lower() or flag("diarize")
    return speaker_options(diarize=wanted, speakers=count("speakers"), min_speakers=count("min_speakers"),
                           max_speakers=count("max_speakers"), channels_as_speakers=flag("channels_as_speakers"))


async def _wait(pk: int, seconds: float) -> Job | None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await Job.objects.filter(pk=pk).afirst()
        if found is None or found.status in TERMINAL or asyncio.get_running_loop().time() >= deadline:
            return found
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def _events(pk: int):
    """The job's text as OpenAI streams it: a delta whenever more of it is settled, then the
    whole finished text. Runs until the job has its outcome (the dispatcher's attempts and
    timeouts bound that); a client that goes away ends it, the job goes on."""
    text = openai_stream.TextStream()
    quiet_since = asyncio.get_running_loop().time()
    while True:
        job, settled = await sync_to_async(selectors.job_settled_text)(pk)
        if job is None:
            yield openai_stream.error("the job was deleted", "job_deleted")
            return
        if job.status in TERMINAL:
            break
        delta = text.delta(settled)
        now = asyncio.get_running_loop().time()
        if delta is not None:
            yield delta
            quiet_since = now
        elif now - quiet_since >= KEEP_ALIVE_SECONDS:
            yield openai_stream.KEEP_ALIVE
            quiet_since = now
        await asyncio.sleep(WAIT_POLL_SECONDS)
    if job.status != Status.COMPLETED:
        yield openai_stream.error(job.failure_reason or f"the job {job.status}", "job_failed")
        return
    document = await sync_to_async(selectors.job_document)(job)
    if document is None:
        yield openai_stream.error("the transcript is missing from storage", "missing_transcript")
        return
    for event in text.done(document.get("text", ""), duration=document.get("duration")):
        yield event

