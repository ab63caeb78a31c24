"""Where the speech is. Silero VAD's probability for every 32 ms frame is computed as the
audio is decoded (on the reader's thread, beside the engine), and the speech regions of any
window are read off those probabilities when the transcriber needs them."""

from __future__ import annotations

import threading

import numpy as np
from faster_whisper.vad import VadOptions

from .audio import SAMPLE_RATE, Window
from .engines.base import BATCH_CHUNK_SECONDS, BATCH_SPEECH_PAD_MS

FRAME = 512  # samples per VAD frame
CONTEXT = 64  # samples of the frame before that the model sees with each frame

# Sequential decoding only needs to know where speech is (to skip windows without any and
# to drop what Whisper invents in silence).
SEQUENTIAL = VadOptions(min_speech_duration_ms=100)
# Batched decoding builds its clips from the regions: cut finer (pauses of 160 ms), padded
# as a clip needs, at most a clip long once padded.
BATCHED = VadOptions(min_speech_duration_ms=100, min_silence_duration_ms=160,
                     speech_pad_ms=BATCH_SPEECH_PAD_MS, max_speech_duration_s=BATCH_CHUNK_SECONDS)

# Where words are spoken, to find speech that Whisper left out: no padding, and a pause of
# 200 ms ends a region (SEQUENTIAL's regions hold pauses of up to 2 s and 400 ms of padding
# at each end, which made the gaps between Whisper's sentences look like speech).
VOICED = VadOptions(min_speech_duration_ms=250, min_silence_duration_ms=200, speech_pad_ms=0)


class SpeechProbabilities:
    """Silero VAD over a stream that arrives block by block. The model's recurrent state and
    each frame's context are carried from one block to the next, so the probabilities are
    exactly those of one pass over the whole recording (a fresh state per block changes
    them by up to 0.9). Fed by one thread, read by another: `regions` only asks for frames
    of audio the reader has already handed over, which were computed before it did."""

    def __init__(self):
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session
        self._state = [np.zeros((1, 1, 128), dtype=np.float32) for _ in range(2)]
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._rest = np.zeros(0, dtype=np.float32)  # the start of a frame not yet complete
        self._parts: list[np.ndarray] = []
        self._lock = threading.Lock()

    def feed(self, samples: np.ndarray) -> None:
        """The next 16 kHz float32 samples of the stream."""
        audio = np.concatenate([self._rest, samples])
        whole = len(audio) // FRAME * FRAME
        self._rest = audio[whole:]
        if not whole:
            return
        frames = audio[:whole].reshape(-1, FRAME)
        contexts = np.concatenate([self._context[None], frames[:-1, -CONTEXT:]])
        self._context = frames[-1, -CONTEXT:].copy()
        h, c = self._state
        out, h, c = self._session.run(None, {"input": np.concatenate([contexts, frames], axis=1),
                                             "h": h, "c": c})
        self._state = [h, c]
        with self._lock:
            self._parts.append(out.ravel().astype(np.float32))

    def regions(self, window: Window, vad: VadOptions) -> list[tuple[float, float]]:
        """The window's speech regions, in seconds from its start."""
        start = round(window.offset * SAMPLE_RATE)
        length = len(window.samples)
        first = -(-start // FRAME)  # the first frame that starts inside the window
        with self._lock:
            if len(self._parts) > 1:
                self._parts = [np.concatenate(self._parts)]
            known = self._parts[0] if self._parts else np.zeros(0, dtype=np.float32)
        probabilities = known[first:(start + length) // FRAME]
        return [(s / SAMPLE_RATE, e / SAMPLE_RATE)
                for s, e in regions(probabilities, vad, length=length, shift=first * FRAME - start)]


def speech_regions(samples: np.ndarray, vad: VadOptions = SEQUENTIAL) -> list[tuple[float, float]]:
    """The speech regions of audio already in memory, in seconds."""
    detector = SpeechProbabilities()
    detector.feed(samples)
    return detector.regions(Window(0.0, samples), vad)


def regions(probabilities: np.ndarray, vad: VadOptions, *, length: int,
            shift: int = 0) -> list[tuple[int, int]]:
    """Speech regions in samples from per-frame speech probabilities (frame i starts at
    sample i * FRAME + shift), following VadOptions as Silero's own rules do: speech begins
    at a frame at or above the threshold and ends after min_silence of frames below the
    lower threshold; shorter than min_speech is dropped; longer than max_speech is split at
    its least speech-like frame; each region is padded, two padded regions meeting halfway
    between them; nothing reaches outside [0, length]."""
    high = vad.threshold
    low = vad.neg_threshold if vad.neg_threshold is not None else max(high - 0.15, 0.01)
    min_silence = _frames(vad.min_silence_duration_ms / 1000)
    min_speech = _frames(vad.min_speech_duration_ms / 1000)
    pad = int(vad.speech_pad_ms * SAMPLE_RATE / 1000)
    max_frames = (vad.max_speech_duration_s * SAMPLE_RATE - FRAME - 2 * pad) / FRAME

    spans: list[tuple[int, int]] = []  # [first, end) frames
    start = quiet = None
    for i, p in enumerate(probabilities):
        if start is None:
            if p >= high:
                start, quiet = i, None
        elif p >= high:
            quiet = None
        elif p < low:
            quiet = i if quiet is None else quiet
            if i - quiet >= min_silence:
                spans.append((start, quiet))
                start = quiet = None
    if start is not None:
        spans.append((start, len(probabilities)))

    split: list[tuple[int, int]] = []
    for first, end in spans:
        if end - first < min_speech:
            continue
        while end - first > max_frames:
            lo = first + int(max_frames) // 2
            cut = lo + int(np.argmin(probabilities[lo:first + int(max_frames)]))
            split.append((first, cut))
            first = cut
        split.append((first, end))

    bounds = [(first * FRAME + shift, end * FRAME + shift) for first, end in split]
    padded = []
    for i, (s, e) in enumerate(bounds):
        before = bounds[i - 1][1] if i else None
        after = bounds[i + 1][0] if i + 1 < len(bounds) else None
        s = s - pad if before is None or s - before >= 2 * pad else (before + s) // 2
        e = e + pad if after is None or after - e >= 2 * pad else (e + after) // 2
        if min(e, length) > max(s, 0):
            padded.append((max(s, 0), min(e, length)))
    return padded


def _frames(seconds: float) -> int:
    return int(np.ceil(seconds * SAMPLE_RATE / FRAME))
