"""Server settings: every knob is an environment variable with a safe default.
A bad value stops the server at start with a message, never later on a request."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

ENGINES = ("faster-whisper", "openai-whisper")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SettingsError(ValueError):
    pass


def _int(env, name: str, default: int, low: int = 0) -> int:
    return _number(env, name, default, low, int, "a whole number")


def _float(env, name: str, default: float, low: float = 0.0) -> float:
    return _number(env, name, default, low, float, "a number of seconds")


def _number(env, name: str, default, low, parse, what: str):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {what}, not {raw!r}") from None
    if not value >= low:  # also refuses nan
        raise SettingsError(f"{name} must be at least {low}, not {value}")
    return value


def _choice(env, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def bind_address(env=None) -> str:
    """Where gunicorn listens. HOST wins when set; the image sets HOST=0.0.0.0 (SageMaker
    runs the image and reaches it from outside the container), and so does SageMaker's
    SAGEMAKER_BIND_TO_PORT where it is given. Anywhere else (`make serve`, `serve` on a
    workstation) only this machine can reach the server: 127.0.0.1."""
    env = os.environ if env is None else env
    sagemaker_port = env.get("SAGEMAKER_BIND_TO_PORT")
    host = env.get("HOST") or ("0.0.0.0" if sagemaker_port else "127.0.0.1")
    port = env.get("PORT") or sagemaker_port or "8080"
    return f"{host}:{port}"


def _s3_allow_list(raw: str) -> tuple[tuple[str, str], ...]:
    """ALLOWED_S3_URIS: a comma list of `bucket` (the whole bucket) or `bucket/prefix/`
    (keys under that folder), with or without s3://. A prefix is a folder: `bucket/in`
    means keys under `in/`."""
    allowed = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        bucket, _, prefix = entry.removeprefix("s3://").partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise SettingsError(f"ALLOWED_S3_URIS: {entry!r} does not start with an S3 bucket name")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        allowed.append((bucket, prefix))
    return tuple(allowed)


@dataclass(frozen=True)
class Settings:
    engine: str = "faster-whisper"
    model: str | None = None  # a name (tiny.en, base) or a path; None: the offline default
    device: str = "auto"  # auto, cpu or cuda
    compute_type: str | None = None  # None: int8 on CPU, float16 on CUDA
    cpu_threads: int = 0  # 0: let the engine choose
    max_body_bytes: int = 1024**3  # SageMaker async accepts payloads up to 1 GB
    max_audio_seconds: int = 4 * 3600
    max_concurrent: int = 1  # transcriptions at once; more requests wait their turn
    # Long audio is decoded and transcribed in windows this long (the last one up to twice
    # this): peak memory follows the window, not the recording (measured: 320 MB for
    # 1 minute, 443 MB for 60 minutes).
    window_seconds: int = 120
    # Batched inference for long audio, off by default: on two CPU cores it is about twice
    # as fast but needs about 1 GB (README, Benchmarks). On a GPU it is about 3 times as fast
    # with the same words: set WHISPER_BATCH_SIZE=16 there. A request may ask for it.
    batch_size: int = 0
    batch_min_seconds: int = 600  # with batch_size > 0: audio at least this long is batched
    allowed_input_dirs: tuple[str, ...] = field(default_factory=tuple)
    # JSON pointers to S3 are read only inside these (bucket, key prefix) pairs; none by
    # default, so the server's credentials are no way into buckets a caller names.
    allowed_s3: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # When set, POST /invocations needs `Authorization: Bearer <token>` (/ping stays open).
    token: str | None = field(default=None, repr=False)
    cache_dir: str = os.path.expanduser("~/.cache/whisper-server")
    # Named models (WHISPER_MODEL=large-v3 -> <models_dir>/large-v3); None: <cache_dir>/models.
    # The image sets it to the folder its build put the weights in.
    models_dir: str | None = None
    # Where SageMaker unpacks the model data (ModelDataUrl); it wins over WHISPER_MODEL.
    sagemaker_model_dir: str = "/opt/ml/model"
    # Progress reports (contracts/container/progress) into the job's DynamoDB item, for
    # requests that name their job (the `job_id` custom attribute): the table's name and
    # region (PROGRESS_REGION, else the environment's: SageMaker hosting sets no AWS_REGION,
    # so the CDK app passes it).
    progress_table: str | None = None
    progress_region: str | None = None
    progress_min_interval: float = 1.0  # seconds between two writes of a job's item
    partial_max_bytes: int = 300_000  # the partial transcript in the item (DynamoDB: 400 KB an item)

    @classmethod
    def from_env(cls, env=None) -> Settings:
        env = os.environ if env is None else env
        dirs = tuple(os.path.realpath(p) for p in env.get("ALLOWED_INPUT_DIRS", "").split(":") if p)
        window = _int(env, "WHISPER_WINDOW_SECONDS", 120, low=30)
        return cls(
            engine=_choice(env, "WHISPER_ENGINE", "faster-whisper", ENGINES),
            model=env.get("WHISPER_MODEL") or None,
            device=_choice(env, "WHISPER_DEVICE", "auto", ("auto", "cpu", "cuda")),
            compute_type=env.get("WHISPER_COMPUTE_TYPE") or None,
            cpu_threads=_int(env, "WHISPER_CPU_THREADS", 0),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024**3, low=1),
            max_audio_seconds=_int(env, "MAX_AUDIO_SECONDS", 4 * 3600, low=1),
            max_concurrent=_int(env, "MAX_CONCURRENT_TRANSCRIPTIONS", 1, low=1),
            window_seconds=window,
            batch_size=_int(env, "WHISPER_BATCH_SIZE", 0),
            batch_min_seconds=_int(env, "WHISPER_BATCH_MIN_SECONDS", 600),
            allowed_input_dirs=dirs,
            allowed_s3=_s3_allow_list(env.get("ALLOWED_S3_URIS", "")),
            token=env.get("MODEL_SERVER_TOKEN") or None,
            cache_dir=env.get("WHISPER_CACHE_DIR") or os.path.expanduser("~/.cache/whisper-server"),
            models_dir=env.get("WHISPER_MODELS_DIR") or None,
            sagemaker_model_dir=env.get("SM_MODEL_DIR") or "/opt/ml/model",
            progress_table=env.get("PROGRESS_TABLE") or None,
            progress_region=(env.get("PROGRESS_REGION") or env.get("AWS_REGION")
                             or env.get("AWS_DEFAULT_REGION") or None),
            progress_min_interval=_float(env, "PROGRESS_MIN_INTERVAL", 1.0),
            partial_max_bytes=_int(env, "PARTIAL_MAX_BYTES", 300_000, low=1024),
        )
