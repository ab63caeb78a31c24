"""What a progress report is (contracts/container/progress/README.md) and how one is applied
to the partial transcript: shared by the backends that receive reports, the service that
records them and the selectors that show them. No database here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# The web app's own stages, before the model server's first report.
QUEUED, WAITING_FOR_MODEL, STARTING_ENDPOINT = "queued", "waiting_for_model", "starting_endpoint"
STAGE_LABELS = {
    QUEUED: "Queued",
    WAITING_FOR_MODEL: "Waiting for the model server",
    STARTING_ENDPOINT: "Starting the endpoint (it scales to zero when idle)",
    # The model server's stages.
    "waiting": "Waiting for its turn on the model server",
    "transcribing": "Transcribing",
    "finding_speakers": "Finding speakers",
}
MAX_STAGE_CHARS = 32
# What the partial transcript keeps of a segment: enough to read it and to play from it.
SEGMENT_FIELDS = ("id", "start", "end", "text", "speaker")


class BadReport(ValueError):
    """A report that does not follow the contract; it is dropped, the job goes on."""


@dataclass(frozen=True)
class ProgressReport:
    """One report: the stage, the seconds of audio done, the recording's length when known,
    and `segments`, which replace the partial transcript from `segments_from` on (None:
    the partial transcript stays as it is)."""

    stage: str
    seconds_done: float = 0.0
    duration: float | None = None
    segments_from: float | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)
    # The partial transcript before this no later report changes: a stream's report says it
    # with `segments_from`; a snapshot (which starts from 0) says it here.
    settled_before: float | None = None

    @property
    def settled(self) -> float | None:
        return self.segments_from if self.settled_before is None else self.settled_before

    @classmethod
    def from_event(cls, data: Any) -> ProgressReport:
        """A report from its JSON form (a line of the stream, `event` and all)."""
        if not isinstance(data, dict):
            raise BadReport("a progress report is a JSON object")
        stage = data.get("stage")
        if not isinstance(stage, str) or not stage or len(stage) > MAX_STAGE_CHARS:
            raise BadReport(f"a progress report's stage is a short name, not {stage!r}")
        segments_from = _number(data.get("segments_from"), "segments_from", optional=True)
        raw = data.get("segments") or []
        if not isinstance(raw, list):
            raise BadReport("a progress report's segments are a list")
        return cls(stage=stage, seconds_done=_number(data.get("seconds_done", 0), "seconds_done") or 0.0,
                   duration=_number(data.get("duration"), "duration", optional=True),
                   segments_from=segments_from,
                   segments=[_segment(s) for s in raw] if segments_from is not None else [])

    @classmethod
    def snapshot(cls, *, stage: str, seconds_done: float, duration: float | None,
                 segments: list[dict[str, Any]] | None,
                 settled_before: float | None = None) -> ProgressReport:
        """Where a run stands, whole (the DynamoDB sink): the partial transcript is
        `segments` from the start, or unchanged when the sink has none to give."""
        report = cls.from_event({"stage": stage, "seconds_done": seconds_done, "duration": duration,
                                 "segments_from": None if segments is None else 0.0,
                                 "segments": segments or []})
        settled = _number(settled_before, "settled_before", optional=True)
        return dataclasses.replace(report, settled_before=settled) if segments is not None else report

    @classmethod
    def stage_only(cls, stage: str) -> ProgressReport:
        """The web app's own stage before the model server reports (nothing done yet)."""
        return cls(stage=stage)


def apply_segments(partial: list[dict[str, Any]], report: ProgressReport) -> list[dict[str, Any]]:
    """The contract's rule: the partial transcript from `segments_from` on is now `segments`."""
    if report.segments_from is None:
        return partial
    return [s for s in partial if s["start"] < report.segments_from] + report.segments


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage) or stage.replace("_", " ").capitalize()


def _number(value: Any, name: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise BadReport(f"a progress report's {name} is a number of seconds, not {value!r}")
    return float(value)


def _segment(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise BadReport("a segment of a progress report is an object with its text")
    segment = {name: raw[name] for name in SEGMENT_FIELDS if name in raw}
    segment["start"] = _number(raw.get("start"), "segment start")
    segment["end"] = _number(raw.get("end"), "segment end")
    if not isinstance(segment.get("id"), int) or isinstance(segment.get("id"), bool):
        raise BadReport("a segment of a progress report has a whole-number id")
    return segment
