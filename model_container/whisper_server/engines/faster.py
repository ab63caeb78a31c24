"""faster-whisper (CTranslate2): the default engine. int8 on CPU, float16 on CUDA."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..models import ModelLocation
from ..options import TranscribeOptions
from .base import (
    BATCH_CHUNK_SECONDS,
    SENTENCE_ENDS,
    EngineInfo,
    EngineResult,
    OnSegment,
    Segment,
    Word,
    temperatures,
)
from .features import SlicedFeatureExtractor

SENTENCE_PAUSE_SECONDS = 0.6  # a pause this long between words also starts a new segment


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
        # The spectrogram of a whole window at once would make memory follow the window.
        self.model.feature_extractor = SlicedFeatureExtractor.replacing(self.model.feature_extractor)
        self.batched = BatchedInferencePipeline(self.model)
        self.info = EngineInfo(engine="faster-whisper", model=location.name, device=device,
                               compute_type=compute_type, multilingual=self.model.model.is_multilingual)

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions, *,
                   language: str | None, batch_size: int,
                   speech: list[tuple[float, float]],
                   stop_after: float | None = None,
                   on_segment: OnSegment | None = None) -> EngineResult:
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
            # The batched pipeline decodes each clip once, with no second pass: what Whisper
            # leaves out of a clip is lost (the library's own VAD chunking dropped 13% of the
            # words of the benchmark's 11 minutes of real speech). Clips cut from the speech
            # the transcriber's VAD already found (padded by 600 ms, pauses between phrases
            # kept, up to 30 s) lost none, on the CPU and on an H200, and need no second
            # VAD pass. Timestamp tokens made batched decoding about 10 times slower on the
            # GPU (no faster than sequential): a clip comes back as one piece of up to 30 s,
            # too long for subtitles, so its words are aligned and it is split into
            # sentences (see the README's benchmark section for what each step costs).
            common.pop("vad_filter")
            common["word_timestamps"] = True
            pieces, info = self.batched.transcribe(
                audio, batch_size=batch_size, without_timestamps=True,
                chunk_length=BATCH_CHUNK_SECONDS, clip_timestamps=clips(speech), **common)
            result = []
            for piece in pieces:  # decoding runs here, a batch of clips at a time
                for sentence in sentences(_segment(piece)):
                    result.append(sentence)
                    if on_segment is not None:
                        on_segment(sentence)
        else:
            found, info = self.model.transcribe(audio, **common)
            result = []
            for segment in found:  # decoding runs here, 30 s at a time
                result.append(_segment(segment))
                if on_segment is not None:
                    on_segment(result[-1])
                if stop_after is not None and segment.end > stop_after:
                    # The rest is decoded again with the next window. Decoding it here is
                    # worse than wasted: in the silence padding after a window's end Whisper
                    # tends to repeat its last sentence until it runs out of tokens.
                    break
        for index, segment in enumerate(result):
            segment.id = index
        return EngineResult(language=info.language,
                            language_probability=float(info.language_probability),
                            segments=result)


def _segment(s) -> Segment:
    words = None
    if s.words is not None:
        words = [Word(word=w.word, start=float(w.start), end=float(w.end),
                      probability=float(w.probability)) for w in s.words]
    return Segment(id=0, start=float(s.start), end=float(s.end), text=s.text,
                   avg_logprob=float(s.avg_logprob), no_speech_prob=float(s.no_speech_prob),
                   compression_ratio=float(s.compression_ratio), words=words)


def clips(speech: list[tuple[float, float]], max_seconds: float = BATCH_CHUNK_SECONDS) -> list[dict]:
    """Consecutive speech regions joined into clips of at most `max_seconds`, the pauses
    between them kept: one clip is one item of a batch."""
    joined: list[dict] = []
    for start, end in speech:
        if joined and end - joined[-1]["start"] <= max_seconds:
            joined[-1]["end"] = end
            continue
        while end - start > max_seconds:  # the VAD splits long speech; just in case
            joined.append({"start": start, "end": start + max_seconds})
            start += max_seconds
        joined.append({"start": start, "end": end})
    return joined


def sentences(piece: Segment) -> list[Segment]:
    """Split a batched clip (up to 30 s, one piece of text) at the ends of its sentences
    and at long pauses, using its word timings. The pieces keep the clip's scores.

    The alignment sometimes squeezes words into no time at all, at the clip's end (or at
    the start of the speech, for text Whisper repeated): the "pause" before such a word is
    the alignment's, not the speaker's, so it splits nothing."""
    words = piece.words or []
    groups: list[list[Word]] = []
    for word in words:
        if (not groups or groups[-1][-1].word.rstrip().endswith(SENTENCE_ENDS)
                or (word.start - groups[-1][-1].end >= SENTENCE_PAUSE_SECONDS
                    and word.end > word.start)):
            groups.append([])
        groups[-1].append(word)
    if len(groups) < 2:
        return [piece]
    return [dataclasses.replace(piece, start=group[0].start, end=group[-1].end,
                                text="".join(w.word for w in group), words=group)
            for group in groups]
