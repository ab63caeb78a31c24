"""Transcription options: one typed value, parsed from the SageMaker custom-attributes
header or from a JSON request, validated with messages a person can act on."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import unquote

from .errors import InputError

TASKS = ("transcribe", "translate")
MAX_BEAM_SIZE = 10
MAX_PROMPT_CHARS = 1000
MAX_SPEAKERS = 20
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LANGUAGE = re.compile(r"^[a-z]{2,3}$|^(haw|yue)$")
# Custom attributes that say which request this is rather than how to transcribe it: the
# web app's job id, under which progress is reported (contracts/container/progress).
JOB_ID = "job_id"
_JOB_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # None: detect it
    task: str = "transcribe"
    word_timestamps: bool = False
    vad_filter: bool = False
    initial_prompt: str | None = None
    beam_size: int = 5
    temperature: float | None = None  # None: Whisper's fallback schedule 0.0, 0.2, ... 1.0
    batch_size: int | None = None  # None: the server decides by duration; 0: sequential
    # Speakers (who speaks when): segments[].speaker, words[].speaker and a speakers list.
    diarize: bool = False
    speakers: int | None = None  # exactly this many; None: found, within min..max if given
    min_speakers: int | None = None
    max_speakers: int | None = None
    channels_as_speakers: bool = False  # each channel of the recording is one speaker

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def wants_speakers(self) -> bool:
        return self.diarize or self.channels_as_speakers


_FIELDS = {f.name for f in dataclasses.fields(TranscribeOptions)}
# Aliases callers of other Whisper services already use.
_ALIASES = {"lang": "language", "prompt": "initial_prompt", "word_timestamp": "word_timestamps",
            "vad": "vad_filter", "beam": "beam_size", "diarization": "diarize",
            "num_speakers": "speakers"}
_COUNTS = ("speakers", "min_speakers", "max_speakers")


def parse_custom_attributes(header: str | None) -> TranscribeOptions:
    """Parse `X-Amzn-SageMaker-Custom-Attributes`, e.g. `language=en;task=translate`.

    SageMaker passes the header through untouched (up to 1024 visible US-ASCII characters);
    pairs are separated by `;` or `,` so both common conventions work. Values are
    percent-decoded as UTF-8 (`initial_prompt=Nguy%E1%BB%85n`): that is how text in any
    script, and a `;` or `,`, travels in the header. A `%` not followed by two hex digits
    stays as it is. `job_id` is not an option (see `custom_attribute_job_id`).
    """
    raw = _attributes(header)
    raw.pop(JOB_ID, None)
    return options_from_mapping(raw)


def custom_attribute_job_id(header: str | None) -> str | None:
    """The `job_id` custom attribute: the job whose progress the request reports."""
    value = _attributes(header).get(JOB_ID, "").strip()
    if not value:
        return None
    if not _JOB_ID.fullmatch(value):
        raise InputError("custom attribute 'job_id' must be 1 to 128 letters, digits or . _ : -",
                         code="bad_option")
    return value


def _attributes(header: str | None) -> dict[str, str]:
    raw: dict[str, str] = {}
    if not header or not header.strip():
        return raw
    for part in re.split(r"[;,]", header):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise InputError(f"custom attribute '{part}' is not of the form name=value",
                             code="bad_option")
        name, value = part.split("=", 1)
        try:
            raw[name.strip().lower()] = unquote(value.strip(), errors="strict")
        except UnicodeDecodeError:
            raise InputError(f"custom attribute '{name.strip()}' is not percent-encoded UTF-8",
                             code="bad_option") from None
    return raw


def options_from_mapping(raw: dict) -> TranscribeOptions:
    """Build options from a mapping of strings or JSON values; unknown names are refused
    so that a typo does not silently change nothing."""
    values: dict = {}
    for name, value in raw.items():
        key = _ALIASES.get(name, name)
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise InputError(f"unknown option '{name}' (known options: {known})", code="bad_option")
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        values[key] = _CONVERTERS[key](key, value)
    return TranscribeOptions(**_with_speakers(values))


def _with_speakers(values: dict) -> dict:
    """A speaker count turns diarization on; counts that contradict each other, or the
    channels (which are the speakers), are refused."""
    counts = [name for name in _COUNTS if values.get(name) is not None]
    if not counts:
        return values
    if values.get("channels_as_speakers"):
        raise InputError(f"{counts[0]} cannot be given with channels_as_speakers: each channel "
                         "is one speaker", code="bad_option")
    if values.get("diarize") is False:
        raise InputError(f"{counts[0]} needs diarize=true (or leave diarize out)", code="bad_option")
    if values.get("speakers") is not None and len(counts) > 1:
        raise InputError("give either speakers (an exact count) or min_speakers and max_speakers "
                         "(a range), not both", code="bad_option")
    low, high = values.get("min_speakers"), values.get("max_speakers")
    if low is not None and high is not None and low > high:
        raise InputError(f"min_speakers ({low}) is more than max_speakers ({high})", code="bad_option")
    return {**values, "diarize": True}


def _language(name: str, value) -> str | None:
    text = str(value).strip().lower()
    if text in ("auto", "detect", "none"):
        return None
    if not _LANGUAGE.match(text):
        raise InputError(f"language '{value}' is not a language code such as 'en' or 'fr' "
                         "(or 'auto' to detect it)", code="bad_option")
    return text


def _task(name: str, value) -> str:
    text = str(value).strip().lower()
    if text not in TASKS:
        raise InputError(f"task must be 'transcribe' or 'translate', not '{value}'", code="bad_option")
    return text


def _bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputError(f"{name} must be true or false, not '{value}'", code="bad_option")


def _number(name: str, value, kind, low, high):
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, not '{value}'", code="bad_option") from None
    if not low <= number <= high:
        raise InputError(f"{name} must be between {low} and {high}, not {value}", code="bad_option")
    return number


def _prompt(name: str, value) -> str:
    text = str(value)
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"initial_prompt is longer than {MAX_PROMPT_CHARS} characters",
                         code="bad_option")
    return text


_CONVERTERS = {
    "language": _language,
    "task": _task,
    "word_timestamps": _bool,
    "vad_filter": _bool,
    "initial_prompt": _prompt,
    "beam_size": lambda n, v: _number(n, v, int, 1, MAX_BEAM_SIZE),
    "temperature": lambda n, v: _number(n, v, float, 0.0, 1.0),
    "batch_size": lambda n, v: _number(n, v, int, 0, 64),
    "diarize": _bool,
    "speakers": lambda n, v: _number(n, v, int, 1, MAX_SPEAKERS),
    "min_speakers": lambda n, v: _number(n, v, int, 1, MAX_SPEAKERS),
    "max_speakers": lambda n, v: _number(n, v, int, 1, MAX_SPEAKERS),
    "channels_as_speakers": _bool,
}
