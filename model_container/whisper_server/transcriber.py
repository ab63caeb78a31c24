"""From an audio file on disk to the documented result: probe, decode in windows, find
speech, run the engine, stitch the windows together. No HTTP here."""

from __future__ import annotations

import dataclasses
import time

from . import SCHEMA_VERSION
from .audio import SAMPLE_RATE, Window, decode_windows, probe
from .engines.base import BATCH_CHUNK_SECONDS, SENTENCE_ENDS, Engine, Segment
from .errors import InputError
from .options import TranscribeOptions
from .settings import Settings
from .speech import BATCHED, SEQUENTIAL, VOICED, SpeechProbabilities

# Whisper invents text ("Thank you.") for audio without speech. A segment that does not
# come within this many seconds of speech found by the VAD is dropped.
SPEECH_MARGIN_SECONDS = 0.5
# Nor is text that Whisper times well past the end of the audio it was given: in the
# silence padding after a window's last words it sometimes repeats a sentence.
PAST_END_SECONDS = 1.0
# Nor is text spoken faster than anyone speaks: a repetition loop ("see you in the next
# video" forty times in 1.5 s of silence). Fast speech is about 4 words a second; a segment
# counts as 2 s at least, since a batched clip's word alignment can squeeze its last
# sentence into almost no time.
MAX_WORDS_PER_SECOND = 8.0
MIN_RATE_SECONDS = 2.0
HOLD_BACK_SECONDS = 5.0
MAX_HELD_BACK_SECONDS = 30.0
# This much voiced speech (by the VAD) with no segment over it was left out by Whisper.
UNHEARD_SECONDS = 1.5


def transcribe_file(path: str, options: TranscribeOptions, engine: Engine,
                    settings: Settings) -> dict:
    started = time.perf_counter()
    check_options(options, engine)
    info = probe(path, max_seconds=settings.max_audio_seconds)
    batch_size = options.batch_size
    if batch_size is None:
        long_audio = (info.duration or 0) >= settings.batch_min_seconds
        batch_size = settings.batch_size if long_audio else 0

    # A batch needs room to fill: a batched request uses windows that hold at least one
    # full batch of clips (its memory is set by the batch, not by the window).
    window = max(settings.window_seconds, batch_size * BATCH_CHUNK_SECONDS * 1.25)
    # Speech is detected as the audio is decoded, on the reader's thread: beside the engine.
    detector = SpeechProbabilities()
    vad_options = BATCHED if batch_size > 0 else SEQUENTIAL
    reader = decode_windows(path, window_seconds=window, max_seconds=settings.max_audio_seconds,
                            on_decoded=detector.feed)
    language = options.language or (None if engine.info.multilingual else "en")
    language_probability = 1.0 if language else 0.0
    segments: list[Segment] = []
    inference = decode = vad = 0.0
    mark = time.perf_counter()
    for window in reader:
        decode += time.perf_counter() - mark
        mark = time.perf_counter()
        speech = detector.regions(window, vad_options)
        voiced = detector.regions(window, VOICED) if speech else []  # for what Whisper leaves out
        vad += time.perf_counter() - mark
        mark = time.perf_counter()
        found: list[Segment] = []
        if speech:
            length = len(window.samples) / SAMPLE_RATE
            stop_after = None if window.last else length - HOLD_BACK_SECONDS
            result = engine.transcribe(window.samples, options, language=language,
                                       batch_size=batch_size, speech=speech, stop_after=stop_after)
            if language is None:  # detected once, on the first window with speech
                language, language_probability = result.language, result.language_probability
            found, tail_seconds = result.segments, 0.0
            if not window.last:
                found, tail_seconds = _hold_back(window, found)
                reader.put_back(tail_seconds)
            found = [s for s in found if _credible(s, speech, length)]
            found = _with_unheard_speech(window, found, speech, voiced, length - tail_seconds,
                                         engine, options, language)
        segments.extend(_place(s, window.offset) for s in found)
        inference += time.perf_counter() - mark
        mark = time.perf_counter()
    decode += time.perf_counter() - mark

    for index, segment in enumerate(segments):
        segment.id = index
    return {
        "schema_version": SCHEMA_VERSION,
        "text": " ".join(s.text.strip() for s in segments if s.text.strip()),
        "language": language or "",
        "language_probability": round(language_probability, 4),
        "duration": round(reader.duration, 3),
        "segments": [_segment_dict(s, options.word_timestamps) for s in segments],
        "options": {**options.to_dict(), "batch_size": batch_size},
        "model": dataclasses.asdict(engine.info),
        "timings": {
            "decode_seconds": round(decode, 3),
            "vad_seconds": round(vad, 3),
            "inference_seconds": round(inference, 3),
            "total_seconds": round(time.perf_counter() - started, 3),
        },
        "warnings": reader.warnings,
    }


def check_options(options: TranscribeOptions, engine: Engine) -> None:
    """Refuse what the loaded model cannot do, before any audio is decoded."""
    if engine.info.multilingual:
        return
    name = engine.info.model
    if options.language not in (None, "en"):
        raise InputError(f"the model {name} is English-only and cannot transcribe "
                         f"'{options.language}': use a multilingual model such as base",
                         code="unsupported_language")
    if options.task == "translate":
        raise InputError(f"the model {name} is English-only and cannot translate: "
                         "use a multilingual model such as base", code="unsupported_task")


def _hold_back(window: Window, found: list[Segment]) -> tuple[list[Segment], float]:
    """The tail of a window that is transcribed again at the start of the next one.

    Whisper decodes the end of a window without the audio that follows: its last sentence
    can come out cut short, and in the silence after it Whisper may repeat a sentence
    (measured: 9 extra words at one boundary of 120 s windows, 72 over ten 60 s windows).
    The segments that end in the window's last HOLD_BACK_SECONDS are dropped, and the
    audio from the first of them goes on into the next window, so every sentence is
    decoded with what comes after it (the engine may stop decoding at that segment).
    Returns the segments kept and the tail's seconds."""
    length = len(window.samples) / SAMPLE_RATE
    first_late = next((i for i, s in enumerate(found) if s.end > length - HOLD_BACK_SECONDS), None)
    if first_late is None:  # what follows the last segment goes on (Whisper sometimes leaves
        cut = max((s.end for s in found), default=length)  # a window's last words out)
    else:
        # From the start of its sentence: Whisper's segments often end mid-sentence, and
        # the next window, starting there, mishears the rest ("my fellow | America's").
        while (first_late > 0 and not found[first_late - 1].text.rstrip().endswith(SENTENCE_ENDS)
               and found[first_late - 1].start >= length - MAX_HELD_BACK_SECONDS):
            first_late -= 1
        cut = found[first_late].start
        # One long segment: more than a Whisper chunk to decode again is not worth it; it is
        # kept and what follows it goes on.
        if cut < length - MAX_HELD_BACK_SECONDS:
            cut = max(s.end for s in found)
    if cut >= length:
        return found, 0.0
    return [s for s in found if s.start < cut], length - cut


def _with_unheard_speech(window: Window, found: list[Segment], speech: list[tuple[float, float]],
                         voiced: list[tuple[float, float]], until: float, engine: Engine,
                         options: TranscribeOptions, language: str | None) -> list[Segment]:
    """Whisper sometimes leaves speech out: it stops before a recording's last sentence
    (measured: the end of the 10.7-minute benchmark file, at temperature 0), skips a
    sentence that repeats the one before, and a batched clip, decoded in one pass, can lose
    its last sentences. Each stretch of the window (up to `until`) where the VAD hears
    words (`voiced`) that no segment covers is decoded once more on its own, sequentially,
    with the window's `speech` regions; returns the segments with the credible ones it
    adds, in order."""
    added: list[Segment] = []
    for start, end in _unheard_stretches(found, voiced, until):
        result = engine.transcribe(
            window.samples[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)], options,
            language=language, batch_size=0,
            speech=[(max(s - start, 0.0), min(e, end) - start) for s, e in speech if e > start and s < end])
        added += [s for s in (_place(s, start) for s in result.segments) if _credible(s, speech, end)]
    return sorted(found + added, key=lambda s: s.start) if added else found


def _unheard_stretches(found: list[Segment], speech: list[tuple[float, float]],
                      until: float) -> list[tuple[float, float]]:
    """The gaps between segments (and after the last one, up to `until`) that hold at
    least UNHEARD_SECONDS of the VAD's speech: (start, end) in the window's seconds."""
    stretches = []
    heard_until = 0.0
    for start, end in sorted((s.start, s.end) for s in found) + [(until, until)]:
        start = min(start, until)
        spoken = sum(min(e, start) - max(s, heard_until) for s, e in speech
                     if e > heard_until and s < start)
        if spoken >= UNHEARD_SECONDS:
            stretches.append((heard_until, start))
        heard_until = max(heard_until, end)
    return stretches


def _credible(segment: Segment, speech: list[tuple[float, float]], length: float) -> bool:
    """Text near speech that the VAD found, not timed well past the window's end, and not
    spoken impossibly fast."""
    words = len(segment.text.split())
    return (words > 0 and segment.end <= length + PAST_END_SECONDS
            and words <= MAX_WORDS_PER_SECOND * max(segment.end - segment.start, MIN_RATE_SECONDS)
            and any(segment.start < end + SPEECH_MARGIN_SECONDS and segment.end > start - SPEECH_MARGIN_SECONDS
                    for start, end in speech))


def _place(segment: Segment, offset: float) -> Segment:
    """Move a window's segment to the recording's timeline."""
    if offset:
        segment.start += offset
        segment.end += offset
        for word in segment.words or ():
            word.start += offset
            word.end += offset
    return segment


def _segment_dict(segment: Segment, with_words: bool) -> dict:
    data = {
        "id": segment.id,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text.strip(),
        "avg_logprob": round(segment.avg_logprob, 4),
        "no_speech_prob": round(segment.no_speech_prob, 4),
        "compression_ratio": round(segment.compression_ratio, 4),
    }
    if with_words:
        data["words"] = [
            {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
             "probability": round(w.probability, 4)}
            for w in segment.words or ()
        ]
    return data
