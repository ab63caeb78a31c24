"""The one interface every engine implements, and the result shape they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..options import TranscribeOptions

# Whisper's own fallback schedule when no temperature is asked for.
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass
class Segment:
    id: int
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: list[Word] | None = None


@dataclass
class EngineResult:
    language: str
    language_probability: float
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class EngineInfo:
    engine: str
    model: str
    device: str
    compute_type: str
    multilingual: bool


# Batched decoding: each item of a batch is a clip of at most BATCH_CHUNK_SECONDS, cut
# around speech that the VAD padded by BATCH_SPEECH_PAD_MS (engines/faster.py says why).
BATCH_CHUNK_SECONDS = 30
BATCH_SPEECH_PAD_MS = 600

SENTENCE_ENDS = (".", "?", "!")  # how a segment's text or a word ends a sentence


OnSegment = Callable[["Segment"], None]


class Engine(Protocol):
    info: EngineInfo

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, *,
                   language: str | None, batch_size: int,
                   speech: list[tuple[float, float]],
                   stop_after: float | None = None,
                   on_segment: OnSegment | None = None) -> EngineResult:
        """Transcribe 16 kHz mono float32 audio. `language` overrides options.language
        (the transcriber detects it once on the first window); `batch_size` 0 is sequential.
        `speech`: where the transcriber's VAD heard speech, in seconds (a batched engine
        cuts its clips from it). `stop_after`: the engine may stop once it has returned a
        segment that ends later than this (the transcriber decodes the rest again with the
        next window); an engine that cannot stop early decodes everything. `on_segment`:
        called with each segment as soon as the engine has it (in the audio's seconds; the
        callee copies what it keeps, the engine may change the segment later), before the
        engine goes on (faster-whisper batched: a batch at a time); an engine that decodes
        everything at once calls it at the end.
        What it raises ends the transcription."""


def temperatures(options: TranscribeOptions) -> tuple[float, ...]:
    return FALLBACK_TEMPERATURES if options.temperature is None else (options.temperature,)
