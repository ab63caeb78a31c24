"""Transcript downloads: plain text, SubRip, WebVTT, the model's JSON, and OpenAI's
`verbose_json` shape (so tools written for OpenAI's API read our files)."""

from __future__ import annotations

import json

FORMATS = {"txt": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt",
           "json": "application/json", "verbose_json": "application/json"}
# OpenAI's verbose_json names the language in full (Whisper's own names).
LANGUAGE_NAMES = {"en": "english", "fr": "french", "de": "german", "es": "spanish",
                  "it": "italian", "pt": "portuguese", "nl": "dutch", "pl": "polish",
                  "sv": "swedish", "da": "danish", "no": "norwegian", "fi": "finnish",
                  "ru": "russian", "uk": "ukrainian", "tr": "turkish", "ar": "arabic",
                  "hi": "hindi", "zh": "chinese", "ja": "japanese", "ko": "korean"}


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
    if fmt == "verbose_json":
        return json.dumps(verbose_json(result), ensure_ascii=False)
    raise ValueError(f"unknown format {fmt!r}")


def verbose_json(result: dict) -> dict:
    """OpenAI's transcription `verbose_json` response, from our result."""
    segments = result.get("segments", [])
    document = {
        "task": result.get("options", {}).get("task", "transcribe"),
        "language": LANGUAGE_NAMES.get(result.get("language", ""), result.get("language", "")),
        "duration": result.get("duration"),
        "text": result.get("text", ""),
        "segments": [{
            "id": s["id"], "seek": 0, "start": s["start"], "end": s["end"], "text": s["text"],
            "tokens": [], "temperature": result.get("options", {}).get("temperature") or 0.0,
            "avg_logprob": s.get("avg_logprob"), "compression_ratio": s.get("compression_ratio"),
            "no_speech_prob": s.get("no_speech_prob"),
        } for s in segments],
    }
    words = [{"word": w["word"].strip(), "start": w["start"], "end": w["end"]}
             for s in segments for w in s.get("words") or ()]
    if words:
        document["words"] = words
    return document


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
