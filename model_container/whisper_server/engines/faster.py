"""faster-whisper (CTranslate2): the default engine. int8 on CPU, float16 on CUDA."""

from __future__ import annotations

import numpy as np

from ..models import ModelLocation
from ..options import TranscribeOptions
from .base import EngineInfo, EngineResult, Segment, Word, temperatures


def cuda_available() -> bool:
    import ctranslate2
    try:
        return ctranslate2.get_cuda_device_count() > 0
    except Exception:  # a CPU-only build or a broken driver: run on the CPU
        return False


class FasterWhisperEngine:
    def __init__(self, location: ModelLocation, *, device: str = "auto",
                 compute_type: str | None = None, cpu_threads: int = 0):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        compute_type = compute_type or ("float16" if device == "cuda" else "int8")
        self.model = WhisperModel(str(location.path), device=device, compute_type=compute_type,
                                  cpu_threads=cpu_threads)
        self.batched = BatchedInferencePipeline(self.model)
        self.info = EngineInfo(engine="faster-whisper", model=location.name, device=device,
                               compute_type=compute_type, multilingual=self.model.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, *,
                   language: str | None, batch_size: int) -> EngineResult:
        common = dict(
            language=language,
            task=options.task,
            beam_size=options.beam_size,
            temperature=list(temperatures(options)),
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            vad_filter=options.vad_filter,
        )
        if batch_size > 0:
            # The batched pipeline decodes each chunk of VAD speech once, with no second
            # pass: what Whisper leaves out of a chunk is lost. With the library's defaults
            # it dropped 7-15% of the words of real speech with pauses. Timestamps on,
            # chunks of at most 24 s (room after the last words, so the decoder does not
            # stop early) and 600 ms of padding around speech (joined clips keep part of
            # their pause) kept the WER at 0-1.4% on three real-speech test recordings, never
            # more than 0.01 above sequential decoding; 25-30 s chunks or 400 ms of padding
            # lost 1-8% on some of them (benchmarks/bench_engine.py measures one of them).
            # 160 ms is the library's own batched min_silence: a dict must restate it.
            common.pop("vad_filter")
            segments, info = self.batched.transcribe(
                audio, batch_size=batch_size, without_timestamps=False, chunk_length=24,
                vad_parameters={"min_silence_duration_ms": 160, "speech_pad_ms": 600},
                **common)
        else:
            segments, info = self.model.transcribe(audio, **common)
        result = [_segment(i, s) for i, s in enumerate(segments)]  # decoding runs here
        return EngineResult(language=info.language,
                            language_probability=float(info.language_probability),
                            segments=result)


def _segment(index: int, s) -> Segment:
    words = None
    if s.words is not None:
        words = [Word(word=w.word, start=float(w.start), end=float(w.end),
                      probability=float(w.probability)) for w in s.words]
    return Segment(id=index, start=float(s.start), end=float(s.end), text=s.text,
                   avg_logprob=float(s.avg_logprob), no_speech_prob=float(s.no_speech_prob),
                   compression_ratio=float(s.compression_ratio), words=words)
