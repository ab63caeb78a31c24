"""HTTP routes of the SageMaker container contract: GET /ping and POST /invocations.

The model loads before the worker serves (so /ping is 200 from the first answer on);
transcriptions take turns through a semaphore while /ping stays answerable on the worker's
other threads. Progress (contracts/container/progress): a request with `Accept:
application/x-ndjson` is answered with a stream of reports and then the result; with
PROGRESS_TABLE, a request that names its job (`job_id`) reports into the job's item."""

from __future__ import annotations

import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

from flask import Flask, Response, request

from .engines import Engine, load_engine
from .errors import InputError
from .options import custom_attribute_job_id, parse_custom_attributes
from .progress import Abandoned, DynamoDBSink, Progress, QueueSink, Sink, dynamodb_table
from .settings import Settings
from .sources import AudioRequest, audio_request
from .transcriber import transcribe_file

log = logging.getLogger("whisper_server")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
NDJSON = "application/x-ndjson"
REPORTS_GRACE_SECONDS = 5.0  # how long the stream waits for reports queued before the result


class ModelHolder:
    """Loads the engine once, in the thread that creates the app, and hands it out.

    Not in a background thread: a CTranslate2 model built in a thread that then exits ran
    five to ten times slower, in CPU time, on every later transcription (measured: 43 s
    instead of 3 s for 75 s of speech)."""

    def __init__(self, settings: Settings, loader=load_engine):
        self.settings = settings
        self.engine: Engine | None = None
        self.error: str | None = None
        self.turns = threading.BoundedSemaphore(settings.max_concurrent)
        started = time.perf_counter()
        try:
            self.engine = loader(settings)
        except Exception as exc:  # reported by /ping; SageMaker then fails the deployment
            log.exception("model failed to load")
            self.error = f"{type(exc).__name__}: {exc}"
            return
        log.info("model ready: %s in %.1f s", self.engine.info, time.perf_counter() - started)


def create_app(settings: Settings | None = None, loader=load_engine) -> Flask:
    settings = settings or Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    holder = ModelHolder(settings, loader)
    app = Flask(__name__)
    app.extensions["model_holder"] = holder

    @app.get("/ping")
    def ping():
        if holder.engine is not None:
            return Response(status=200)
        return _json({"error": f"the model failed to load: {holder.error}", "code": "model_error"}, 500)

    @app.post("/invocations")
    def invocations():
        if settings.token is not None and not _has_token(request.headers.get("Authorization"),
                                                         settings.token):
            response = _json({"error": "this model server needs the header 'Authorization: Bearer "
                                       "<token>' with the token its operator set (MODEL_SERVER_TOKEN)",
                              "code": "unauthorized"}, 401)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        engine = holder.engine
        if engine is None:
            return ping()
        attributes = request.headers.get(CUSTOM_ATTRIBUTES)
        header_options = parse_custom_attributes(attributes)
        header_job_id = custom_attribute_job_id(attributes)
        if _wants_stream():
            return streamed(engine, header_options, header_job_id)
        with audio_request(content_type=request.content_type or "",
                           content_length=request.content_length, body=request.stream,
                           header_options=header_options, settings=settings) as audio:
            sinks = job_sinks(audio.job_id or header_job_id)
            if not sinks:
                with holder.turns:  # more requests than capacity wait here, bodies on disk
                    result = transcribe_file(audio.path, audio.options, engine, settings)
            else:
                progress = Progress(sinks)
                try:
                    result = transcribe_in_turn(audio, engine, progress)
                finally:
                    progress.close()
        return _json(finished(result, audio, engine), 200)

    def job_sinks(job_id: str | None) -> list[Sink]:
        """The job's DynamoDB item, with PROGRESS_TABLE and a job id."""
        if settings.progress_table is None or job_id is None:
            return []
        table, region = settings.progress_table, settings.progress_region
        return [DynamoDBSink(lambda: dynamodb_table(table, region), job_id,
                             min_interval=settings.progress_min_interval,
                             max_partial_bytes=settings.partial_max_bytes)]

    def transcribe_in_turn(audio: AudioRequest, engine: Engine, progress: Progress) -> dict:
        if not holder.turns.acquire(blocking=False):
            progress.waiting()
            holder.turns.acquire()  # more requests than capacity wait here, bodies on disk
        try:
            return transcribe_file(audio.path, audio.options, engine, settings, progress)
        finally:
            holder.turns.release()

    def finished(result: dict, audio: AudioRequest, engine: Engine) -> dict:
        if audio.job_id is not None:
            result["job_id"] = audio.job_id
        log.info("transcribed %.1f s of audio in %.1f s (%s)", result["duration"],
                 result["timings"]["total_seconds"], engine.info.engine)
        return result

    def streamed(engine: Engine, header_options, header_job_id: str | None) -> Response:
        """The NDJSON answer: progress reports as they come, then the result or the error
        (with the status an ordinary request would have had). The request's body is on
        disk before the answer starts: what is wrong with the request itself keeps its
        ordinary status. The transcription runs on a thread of its own, which holds the
        turn; if the client goes away it is abandoned at its next report."""
        files = ExitStack()
        audio = files.enter_context(audio_request(
            content_type=request.content_type or "", content_length=request.content_length,
            body=request.stream, header_options=header_options, settings=settings))
        events: queue.SimpleQueue = queue.SimpleQueue()
        try:
            progress = Progress([QueueSink(events), *job_sinks(audio.job_id or header_job_id)])
        except BaseException:
            files.close()
            raise

        def work() -> None:
            outcome: dict | None = None
            try:
                outcome = {"event": "result",
                           "result": finished(transcribe_in_turn(audio, engine, progress), audio, engine)}
            except Abandoned:
                log.info("the client went away: transcription abandoned")
            except InputError as exc:
                log.info("refused: %s (%s)", exc.message, exc.code)
                outcome = {"event": "error", "status": exc.status, **exc.to_dict()}
            except Exception as exc:
                log.exception("transcription failed")
                outcome = {"event": "error", "status": 500, **_internal_error(exc)}
            finally:
                progress.close()
                files.close()
                events.put(("outcome", outcome))

        def lines() -> Iterator[bytes]:
            done = False
            try:
                closed, outcome = False, None
                while not (closed and outcome is not None):
                    try:  # once the outcome is in, the reports queued before it follow at once
                        kind, payload = events.get(timeout=None if outcome is None else REPORTS_GRACE_SECONDS)
                    except queue.Empty:
                        break
                    if kind == "progress":
                        yield _line({"event": "progress", **payload})
                    elif kind == "closed":
                        closed = True
                    else:
                        outcome = payload or {"event": "error", "status": 500, "code": "internal_error",
                                              "error": "the transcription was abandoned"}
                assert outcome is not None  # the wait times out only once it is in
                yield _line(outcome)
                done = True
            finally:
                if not done:  # the client went away (or the server is stopping)
                    progress.abandon()

        threading.Thread(target=work, name="transcription", daemon=True).start()
        return Response(lines(), status=200, mimetype=NDJSON,
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.errorhandler(InputError)
    def input_error(exc: InputError):
        log.info("refused: %s (%s)", exc.message, exc.code)
        return _json(exc.to_dict(), exc.status)

    @app.errorhandler(404)
    def not_found(exc):
        return _json({"error": "not found: this server answers GET /ping and POST /invocations",
                      "code": "not_found"}, 404)

    @app.errorhandler(405)
    def wrong_method(exc):
        return _json({"error": f"{request.method} is not allowed on {request.path}",
                      "code": "method_not_allowed"}, 405)

    @app.errorhandler(Exception)
    def internal_error(exc):
        log.exception("transcription failed")
        return _json(_internal_error(exc), 500)

    return app


def _has_token(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the token; compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _wants_stream() -> bool:
    """Whether the request asks for the NDJSON stream by name (`*/*` does not)."""
    return any(value == NDJSON and quality > 0 for value, quality in request.accept_mimetypes)


def _internal_error(exc: Exception) -> dict:
    return {"error": f"the transcription failed inside the server ({type(exc).__name__}: {exc})",
            "code": "internal_error"}


def _line(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8") + b"\n"


def _json(document: dict, status: int) -> Response:
    # Flask sets Content-Length on a body given as bytes: SageMaker needs it.
    return Response(json.dumps(document, ensure_ascii=False).encode("utf-8"), status=status,
                    mimetype="application/json")
