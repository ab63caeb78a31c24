"""HTTP routes of the SageMaker container contract: GET /ping and POST /invocations.

The model loads before the worker serves (so /ping is 200 from the first answer on);
transcriptions take turns through a semaphore while /ping stays answerable on the worker's
other threads."""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time

from flask import Flask, Response, request

from .engines import Engine, load_engine
from .errors import InputError
from .options import parse_custom_attributes
from .settings import Settings
from .sources import audio_request
from .transcriber import transcribe_file

log = logging.getLogger("whisper_server")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


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
        header_options = parse_custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES))
        with audio_request(content_type=request.content_type or "",
                           content_length=request.content_length, body=request.stream,
                           header_options=header_options, settings=settings) as audio:
            with holder.turns:  # more requests than capacity wait here, bodies on disk
                result = transcribe_file(audio.path, audio.options, engine, settings)
        if audio.job_id is not None:
            result["job_id"] = audio.job_id
        log.info("transcribed %.1f s of audio in %.1f s (%s)", result["duration"],
                 result["timings"]["total_seconds"], engine.info.engine)
        return _json(result, 200)

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
        return _json({"error": f"the transcription failed inside the server ({type(exc).__name__}: "
                               f"{exc})", "code": "internal_error"}, 500)

    return app


def _has_token(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the token; compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _json(document: dict, status: int) -> Response:
    # Flask sets Content-Length on a body given as bytes: SageMaker needs it.
    return Response(json.dumps(document, ensure_ascii=False).encode("utf-8"), status=status,
                    mimetype="application/json")
