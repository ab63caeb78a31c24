"""openai-whisper (PyTorch): the reference implementation, on the same weights.

No openai-whisper checkpoint can be downloaded here, so the CTranslate2 model is converted
once into the cache (whisper_server.convert) and loaded from there."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..models import ModelLocation
from ..options import TranscribeOptions
from .base import EngineInfo, EngineResult, OnSegment, Segment, Word, temperatures


def checkpoint_for(location: ModelLocation, cache_dir: str) -> Path:
    """The converted checkpoint, keyed by the source weights so a new model never reuses
    an old conversion."""
    from ..convert import convert_ct2_to_openai

    source = location.path / "model.bin"
    stat = source.stat()
    key = hashlib.sha1(f"{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    target = Path(cache_dir) / "openai-whisper" / f"{location.name.replace('/', '_')}-{key[:12]}.pt"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        convert_ct2_to_openai(location.path, target)
    return target


class OpenAIWhisperEngine:
    def __init__(self, location: ModelLocation, *, cache_dir: str, device: str = "auto",
                 cpu_threads: int = 0):
        import torch

        from ..convert import load_converted_model

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if cpu_threads:
            torch.set_num_threads(cpu_threads)
        # load_converted_model also applies the model's alignment heads (word timestamps).
        self.model = load_converted_model(checkpoint_for(location, cache_dir), device=device)
        self.fp16 = device == "cuda"
        self.info = EngineInfo(engine="openai-whisper", model=location.name, device=device,
                               compute_type="float16" if self.fp16 else "float32",
                               multilingual=self.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, *,
                   language: str | None, batch_size: int,
                   speech: list[tuple[float, float]],
                   stop_after: float | None = None,
                   on_segment: OnSegment | None = None) -> EngineResult:
        import whisper

        # openai-whisper has no batched long-form mode, and decodes the whole audio before it
        # returns: batch_size, speech and stop_after are ignored, and on_segment hears of
        # every segment at the end.
        if language is None and self.info.multilingual:
            language, probability = self._detect(audio)
        else:
            language, probability = language or "en", 1.0
        result = whisper.transcribe(
            self.model, audio, language=language, task=options.task,
            temperature=temperatures(options), word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt, beam_size=options.beam_size,
            best_of=options.beam_size, fp16=self.fp16, verbose=None,
        )
        segments = [_segment(i, s) for i, s in enumerate(result["segments"])]
        if on_segment is not None:
            for segment in segments:
                on_segment(segment)
        return EngineResult(language=language, language_probability=probability, segments=segments)

    def _detect(self, audio: np.ndarray) -> tuple[str, float]:
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), self.model.dims.n_mels)
        _, probs = self.model.detect_language(mel.to(self.model.device))
        language = max(probs, key=probs.get)
        return language, float(probs[language])


def _segment(index: int, s: dict) -> Segment:
    words = None
    if "words" in s:
        words = [Word(word=w["word"], start=float(w["start"]), end=float(w["end"]),
                      probability=float(w["probability"])) for w in s["words"]]
    return Segment(id=index, start=float(s["start"]), end=float(s["end"]), text=s["text"],
                   avg_logprob=float(s["avg_logprob"]), no_speech_prob=float(s["no_speech_prob"]),
                   compression_ratio=float(s["compression_ratio"]), words=words)
