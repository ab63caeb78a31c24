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
            # The batched pipeline needs speech regions to cut the audio into chunks: it
            # always runs its VAD. Timestamps on (the library's batched default is off) keep
            # the decoder from skipping speech inside a chunk.
            common.pop("vad_filter")
            segments, info = self.batched.transcribe(audio, batch_size=batch_size,
                                                     without_timestamps=False, **common)
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
