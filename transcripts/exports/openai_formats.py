"""OpenAI's transcription response shapes, from our result: `verbose_json` (Whisper's) and
`diarized_json` (gpt-4o-transcribe-diarize's), so that tools written for OpenAI's API read
our transcripts."""

from __future__ import annotations

import string
from typing import Any

# OpenAI's verbose_json names the language in full (Whisper's own names).
LANGUAGE_NAMES = {"en": "english", "fr": "french", "de": "german", "es": "spanish",
                  "it": "italian", "pt": "portuguese", "nl": "dutch", "pl": "polish",
                  "sv": "swedish", "da": "danish", "no": "norwegian", "fi": "finnish",
                  "ru": "russian", "uk": "ukrainian", "tr": "turkish", "ar": "arabic",
                  "hi": "hindi", "zh": "chinese", "ja": "japanese", "ko": "korean"}


def verbose_json(result: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """OpenAI's `verbose_json`. With speakers, each segment and word also carries `speaker`,
    the name shown (OpenAI's own verbose_json has no speakers)."""
    segments = result.get("segments", [])
    options = result.get("options", {})
    document = {
        "task": options.get("task", "transcribe"),
        "language": LANGUAGE_NAMES.get(result.get("language", ""), result.get("language", "")),
        "duration": result.get("duration"),
        "text": result.get("text", ""),
        "segments": [{
            "id": s["id"], "seek": 0, "start": s["start"], "end": s["end"], "text": s["text"],
            "tokens": [], "temperature": options.get("temperature") or 0.0,
            "avg_logprob": s.get("avg_logprob"), "compression_ratio": s.get("compression_ratio"),
            "no_speech_prob": s.get("no_speech_prob"), **_speaker(s, names),
        } for s in segments],
    }
    words = [{"word": w["word"].strip(), "start": w["start"], "end": w["end"], **_speaker(s, names)}
             for s in segments for w in s.get("words") or ()]
    if words:
        document["words"] = words
    return document


def diarized_json(result: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `diarized_json`: segments with a `speaker` label. OpenAI labels speakers it
    has no name for A, B, ... in the order they first speak; so do we (our S1 is A), and a
    speaker a person named is labelled with that name, as OpenAI labels known speakers.
    A transcript without speakers is one speaker, A."""
    labels = _letters(result.get("speakers") or [])
    duration = result.get("duration") or 0.0
    return {
        "task": "transcribe",
        "duration": duration,
        "text": result.get("text", ""),
        "segments": [{"type": "transcript.text.segment", "id": f"seg_{s['id']}",
                      "start": s["start"], "end": s["end"], "text": s["text"].strip(),
                      "speaker": labels.get(s.get("speaker") or "", "A")}
                     for s in result.get("segments", []) if s["text"].strip()],
        "usage": {"type": "duration", "seconds": duration},
    }


def _speaker(segment: dict[str, Any], names: dict[str, str]) -> dict[str, str]:
    speaker = segment.get("speaker")
    return {"speaker": names.get(speaker, speaker)} if speaker else {}


def _letters(speakers: list[dict[str, Any]]) -> dict[str, str]:
    labels = {}
    for n, speaker in enumerate(speakers):
        letters, k = "", n
        while True:  # A..Z, then AA, AB, ...
            letters = string.ascii_uppercase[k % 26] + letters
            k = k // 26 - 1
            if k < 0:
                break
        labels[speaker["id"]] = speaker.get("name") or letters
    return labels
