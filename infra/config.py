"""The deployment's settings: one frozen dataclass, its defaults, and the parsing of CDK
context values into it. Nothing here reads the environment or the context itself: `app.py`
collects the raw values and hands them to `InfraConfig.from_context`.

Every key is optional; pass one with `cdk deploy -c key=value` (values from the command line
arrive as strings, values from cdk.json may be typed). A bad value stops the synth with a
message naming the key, never later in CloudFormation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NoReturn

from .models import (
    MODELS,
    UNKNOWN_MODEL_INSTANCE,
    WhisperModel,
    canonical_name,
    is_custom_name,
    is_gpu_instance,
    unsupported_instance_reason,
)

ENGINES = ("faster-whisper", "openai-whisper")
REMOVAL_POLICIES = ("destroy", "retain")
# SageMaker's limits for InvokeEndpointAsync's RequestTTLSeconds.
MIN_REQUEST_TTL_SECONDS, MAX_REQUEST_TTL_SECONDS = 60, 21600
# CloudFormation stack names; SageMaker endpoint names (at most 63 characters).
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
# SageMaker's ModelDataUrl for a compressed model: an object in S3, a gzipped tar.
_MODEL_DATA_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+\.tar\.gz$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message names the key."""


@dataclass(frozen=True)
class InfraConfig:
    """Context keys (snake_case, as typed after `-c`) and their defaults."""

    stack_name: str = "whisper-transcription"
    # The SageMaker endpoint's name; empty: the stack name in lower case.
    endpoint_name: str = ""
    # The SageMaker instance type; empty: the model's own (infra/models.py: a CPU instance
    # for tiny, base and small, a GPU for the larger ones).
    instance_type: str = ""
    min_instances: int = 0  # 0: scale to zero when idle (no instance charges)
    max_instances: int = 2
    # Async requests one instance takes at once; the container's MAX_CONCURRENT_TRANSCRIPTIONS.
    max_concurrent_invocations: int = 1
    # Target of the target-tracking policy: queued requests per running instance.
    backlog_per_instance_target: float = 5.0
    engine: str = "faster-whisper"  # WHISPER_ENGINE in the container
    # WHISPER_MODEL in the container: a name from infra/models.py, whose weights the image
    # build bakes in; with model_data_url, also any name of one's own (a label).
    model: str = "tiny.en"
    # s3://bucket/key.tar.gz: SageMaker unpacks it into /opt/ml/model, which the container
    # reads before anything baked in (private or fine-tuned CTranslate2 models).
    model_data_url: str = ""
    # Days that inputs/, outputs/, failures/ and the access logs are kept.
    retention_days: int = 30
    removal_policy: str = "destroy"  # destroy | retain (bucket, table, queue, log groups)
    # How long a request may wait in the endpoint's queue (InvokeEndpointAsync's
    # RequestTTLSeconds, which the caller sends); exported as an output for the web app.
    request_ttl_seconds: int = 21600
    # Alarm when the oldest queued request is older than this.
    queue_age_alarm_seconds: int = 1800
    # Where alarm notifications go; empty: the alarm topic has no subscriber.
    alarm_email: str = ""
    # The web tier (infra/web.py): the Django app on ECS Fargate behind an HTTPS load
    # balancer, with PostgreSQL, Redis and its workers. Off: the stack as before.
    web: bool = False
    domain: str = ""  # the app's host name (ALLOWED_HOSTS); needed with web
    certificate_arn: str = ""  # an ACM certificate for domain, in the stack's region
    web_tasks: int = 1  # web (uvicorn) tasks behind the load balancer
    worker_tasks: int = 1  # `manage.py work` tasks (one is enough; more are safe)

    @property
    def retain(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def resolved_endpoint_name(self) -> str:
        return self.endpoint_name or self.stack_name.lower()[:63].rstrip("-")

    @property
    def whisper_model(self) -> WhisperModel | None:
        """The catalogue's entry for `model`; None for a model of one's own."""
        return MODELS.get(self.model)

    @property
    def resolved_instance_type(self) -> str:
        if self.instance_type:
            return self.instance_type
        entry = self.whisper_model
        return entry.instance_type if entry else UNKNOWN_MODEL_INSTANCE

    @property
    def gpu(self) -> bool:
        return is_gpu_instance(self.resolved_instance_type)

    @property
    def bakes_model(self) -> bool:
        """Whether the image build puts the weights in (no model_data_url)."""
        return not self.model_data_url

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_context(cls, values: Mapping[str, Any]) -> InfraConfig:
        """Build from raw context values (None or absent: the default)."""
        defaults = cls()
        parsed: dict[str, Any] = {}
        for f in fields(cls):
            raw = values.get(f.name)
            if raw is None or raw == "":
                continue
            default = getattr(defaults, f.name)
            parsed[f.name] = _coerce(f.name, raw, type(default))
        config = cls(**parsed)
        config.validate()
        return config

    def validate(self) -> None:
        if not _STACK_NAME.match(self.stack_name):
            _fail("stack_name", self.stack_name,
                  "letters, digits and hyphens, starting with a letter")
        if not _ENDPOINT_NAME.match(self.resolved_endpoint_name):
            _fail("endpoint_name", self.resolved_endpoint_name,
                  "at most 63 letters, digits and hyphens, not starting or ending with a hyphen")
        if self.instance_type and not _INSTANCE_TYPE.match(self.instance_type):
            _fail("instance_type", self.instance_type,
                  "a SageMaker instance type such as ml.c6i.xlarge or ml.g4dn.xlarge")
        reason = unsupported_instance_reason(self.resolved_instance_type)
        if reason:
            _fail("instance_type", self.resolved_instance_type,
                  f"an x86_64 CPU or NVIDIA GPU instance type, not {reason}")
        if self.min_instances < 0:
            _fail("min_instances", self.min_instances, "0 or more")
        if self.max_instances < max(1, self.min_instances):
            _fail("max_instances", self.max_instances, "at least 1 and at least min_instances")
        if not 1 <= self.max_concurrent_invocations <= 1000:
            _fail("max_concurrent_invocations", self.max_concurrent_invocations,
                  "between 1 and 1000")
        if not 0 < self.backlog_per_instance_target < float("inf"):
            _fail("backlog_per_instance_target", self.backlog_per_instance_target, "above 0")
        if self.engine not in ENGINES:
            _fail("engine", self.engine, " or ".join(ENGINES))
        self._validate_model()
        if not 1 <= self.retention_days <= 3650:
            _fail("retention_days", self.retention_days, "between 1 and 3650")
        if self.removal_policy not in REMOVAL_POLICIES:
            _fail("removal_policy", self.removal_policy, " or ".join(REMOVAL_POLICIES))
        if not MIN_REQUEST_TTL_SECONDS <= self.request_ttl_seconds <= MAX_REQUEST_TTL_SECONDS:
            _fail("request_ttl_seconds", self.request_ttl_seconds,
                  f"between {MIN_REQUEST_TTL_SECONDS} and {MAX_REQUEST_TTL_SECONDS} "
                  "(SageMaker's limits)")
        if self.queue_age_alarm_seconds < 60:
            _fail("queue_age_alarm_seconds", self.queue_age_alarm_seconds, "at least 60")
        if self.alarm_email and not _EMAIL.match(self.alarm_email):
            _fail("alarm_email", self.alarm_email, "an e-mail address")
        self._validate_web()

    def _validate_web(self) -> None:
        if not self.web:
            return
        if not _DOMAIN.match(self.domain):
            _fail("domain", self.domain, "the app's host name, such as transcribe.example.com "
                                         "(needed with web=true)")
        if not _CERTIFICATE_ARN.match(self.certificate_arn):
            _fail("certificate_arn", self.certificate_arn,
                  "an ACM certificate ARN, arn:aws:acm:REGION:ACCOUNT:certificate/ID "
                  "(needed with web=true)")
        if not 1 <= self.web_tasks <= 20:
            _fail("web_tasks", self.web_tasks, "between 1 and 20")
        if not 1 <= self.worker_tasks <= 5:
            _fail("worker_tasks", self.worker_tasks, "between 1 and 5")


    def _validate_model(self) -> None:
        if self.model_data_url and not _MODEL_DATA_URL.match(self.model_data_url):
            _fail("model_data_url", self.model_data_url,
                  "s3://BUCKET/KEY.tar.gz, a gzipped tar of a CTranslate2 model folder")
        if self.model in MODELS:
            return
        if self.model_data_url and is_custom_name(self.model):
            return  # a model of one's own, named for the container's reports
        choices = "; ".join(m.describe() for m in MODELS.values())
        also = ("" if self.model_data_url else
                ", or any name with -c model_data_url=s3://BUCKET/KEY.tar.gz for a model of "
                "one's own")
        _fail("model", self.model, f"one of: {choices}{also}")


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            _fail(name, raw, "true or false")
        return text in ("true", "1", "yes")
    if kind is int:
        if isinstance(raw, bool):
            _fail(name, raw, "a whole number")
        try:
            value = int(str(raw).strip())
        except ValueError:
            _fail(name, raw, "a whole number")
        return value
    if kind is float:
        try:
            return float(str(raw).strip())
        except ValueError:
            _fail(name, raw, "a number")
    if not isinstance(raw, str):
        _fail(name, raw, "a string")
    value = raw.strip()
    if name == "model":
        return canonical_name(value)
    return value.lower() if name in ("removal_policy", "engine", "domain") else value


def _fail(name: str, value: Any, expected: str) -> NoReturn:
    raise ConfigError(f"context value {name}={value!r} is invalid: expected {expected}")
