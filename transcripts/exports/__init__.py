"""Transcript downloads: plain text, SubRip, WebVTT, the model's JSON, and OpenAI's
`verbose_json` and `diarized_json` shapes (so tools written for OpenAI's API read our files).

With speakers, each format says who speaks by the name shown (the name a person gave, else
the machine's label): plain text as "Name: text" paragraphs, one per turn; WebVTT with voice
spans (`<v Name>`); SubRip with "Name: " where a turn begins; the JSON formats with speaker
fields."""

from __future__ import annotations

import json
from typing import Any

from . import openai_formats
from .subtitles import Cue, SubtitleOptions, cues

__all__ = ["FORMATS", "SubtitleOptions", "render"]

FORMATS = {"txt": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt",
           "json": "application/json", "verbose_json": "application/json",
           "diarized_json": "application/json"}


def render(result: dict[str, Any], fmt: str, subtitles: SubtitleOptions | None = None) -> str:
    segments = result.get("segments", [])
    names = speaker_names(result)
    if fmt == "txt":
        return _text(segments, names)
    if fmt == "srt":
        made = cues(segments, names, subtitles or SubtitleOptions(), name_in_text=True)
        return "\n".join(f"{n}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{_srt_text(c)}\n"
                         for n, c in enumerate(made, start=1))
    if fmt == "vtt":
        made = cues(segments, names, subtitles or SubtitleOptions())
        return "WEBVTT\n\n" + "\n".join(f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{_vtt_text(c)}\n"
                                        for c in made)
    if fmt == "json":
        return json.dumps(result, ensure_ascii=False, indent=2)
    if fmt == "verbose_json":
        return json.dumps(openai_formats.verbose_json(result, names), ensure_ascii=False)
    if fmt == "diarized_json":
        return json.dumps(openai_formats.diarized_json(result), ensure_ascii=False)
    raise ValueError(f"unknown format {fmt!r}")


def speaker_names(result: dict[str, Any]) -> dict[str, str]:
    """Speaker id → the name shown: the one a person gave, else the machine's label."""
    return {s["id"]: str(s.get("name") or s.get("label") or s["id"]) for s in result.get("speakers") or ()}


def _text(segments: list[dict[str, Any]], names: dict[str, str]) -> str:
    if not names:
        return "\n".join(s["text"].strip() for s in segments) + "\n"
    turns: list[tuple[str | None, list[str]]] = []
    for segment in segments:
        text = segment["text"].strip()
        if not text:
            continue
        who = names.get(segment.get("speaker") or "")
        if turns and turns[-1][0] == who:
            turns[-1][1].append(text)
        else:
            turns.append((who, [text]))
    paragraphs = [(f"{who}: " if who else "") + " ".join(texts) for who, texts in turns]
    return "\n\n".join(paragraphs) + "\n"


def _srt_text(cue: Cue) -> str:
    return "\n".join(line.replace("-->", "->") for line in cue.lines)


def _vtt_text(cue: Cue) -> str:
    text = "\n".join(_escape(line) for line in cue.lines)  # "-->" becomes "--&gt;"
    return f"<v {_escape(cue.speaker)}>{text}" if cue.speaker else text


def _escape(text: str) -> str:
    """WebVTT cue text is markup: &, < and > are written as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
