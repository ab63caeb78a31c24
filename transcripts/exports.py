"""Transcript downloads: plain text, SubRip, WebVTT and the model's JSON."""

from __future__ import annotations

import json

FORMATS = {"txt": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt",
           "json": "application/json"}


def render(result: dict, fmt: str) -> str:
    segments = result.get("segments", [])
    if fmt == "txt":
        return "\n".join(s["text"].strip() for s in segments) + "\n"
    if fmt == "srt":
        blocks = [f"{i}\n{_clock(s['start'], ',')} --> {_clock(s['end'], ',')}\n{s['text'].strip()}\n"
                  for i, s in enumerate(segments, start=1)]
        return "\n".join(blocks)
    if fmt == "vtt":
        blocks = [f"{_clock(s['start'], '.')} --> {_clock(s['end'], '.')}\n{s['text'].strip()}\n"
                  for s in segments]
        return "WEBVTT\n\n" + "\n".join(blocks)
    if fmt == "json":
        return json.dumps(result, ensure_ascii=False, indent=2)
    raise ValueError(f"unknown format {fmt!r}")


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
