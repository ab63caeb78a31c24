"""From an audio file on disk to the documented result: probe, decode in windows, find
speech, run the engine, stitch the windows together. No HTTP here."""

from __future__ import annotations

import dataclasses
import re
import statistics
import time

from . import SCHEMA_VERSION
from .audio import MAX_PUT_BACK, SAMPLE_RATE, Window, decode_windows, probe
from .engines.base import BATCH_CHUNK_SECONDS, SENTENCE_ENDS, Engine, Segment
from .errors import InputError
from .options import TranscribeOptions
from .progress import Progress, report_segment
from .settings import Settings
from .speakers import Attributed, ChannelProgress, SpeakerCount, SpeakerTracker, merge_channels
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
# Whisper's segment times can be off by this much where a segment starts mid-sentence: a
# window's held-back tail that starts there is cut at least this far before it.
SEGMENT_TIME_ERROR_SECONDS = 2.0
# This much voiced speech (by the VAD) with no segment over it was left out by Whisper.
UNHEARD_SECONDS = 1.5
# Whisper can also time a segment over speech it skipped: its words then fill much less
# of the voiced speech under it than the other segments' words fill theirs. A segment is
# decoded again when its words, spoken at the window's usual rate (words per voiced
# second, at least SLOW_WORDS_PER_SECOND), would fill less than UNDERFILLED_SHARE of that
# speech, and UNHEARD_SECONDS or more of it would be left over.
UNDERFILLED_SHARE = 0.5
SLOW_WORDS_PER_SECOND = 2.0
# A repeat is looked for over runs of up to this many segments ("A. B. A. B.").
MAX_REPEATED_RUN = 3


def transcribe_file(path: str, options: TranscribeOptions, engine: Engine,
                    settings: Settings, progress: Progress | None = None, *,
                    channel: int | None = None) -> dict:
    """`progress`: told the duration, then each segment as the engine makes it (the
    window's segments so far, from the window's start) and each window's segments once
    stitched, which replace those (contracts/container/progress); with speakers, the
    stage finding_speakers at the end. `channel`: only that channel of the recording."""
    started = time.perf_counter()
    check_options(options, engine)
    info = probe(path, max_seconds=settings.max_audio_seconds)
    if options.channels_as_speakers:
        return _channels_as_speakers(path, info.channels, info.duration, options, engine, settings,
                                     progress, started)
    asked = options
    tracker = SpeakerTracker() if options.diarize else None
    if tracker is not None:  # speakers are found from the words' times: the engine times them
        options = dataclasses.replace(options, word_timestamps=True)
    if progress is not None:
        progress.transcribing(info.duration)
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
                            on_decoded=detector.feed, channel=channel)
    language = options.language or (None if engine.info.multilingual else "en")
    language_probability = 1.0 if language else 0.0
    segments: list[Segment] = []
    inference = decode = vad = speakers_seconds = 0.0
    mark = time.perf_counter()
    for window in reader:
        decode += time.perf_counter() - mark
        mark = time.perf_counter()
        speech = detector.regions(window, vad_options)
        voiced = detector.regions(window, VOICED) if speech else []  # for what Whisper leaves out
        vad += time.perf_counter() - mark
        mark = time.perf_counter()
        found: list[Segment] = []
        length = len(window.samples) / SAMPLE_RATE
        tail_seconds = 0.0
        if speech:
            stop_after = None if window.last else length - HOLD_BACK_SECONDS
            reporting = {} if progress is None else {
                "on_segment": _tentative_reporter(progress, window.offset, length, len(segments))}
            result = engine.transcribe(window.samples, options, language=language,
                                       batch_size=batch_size, speech=speech, stop_after=stop_after,
                                       **reporting)
            if language is None:  # detected once, on the first window with speech
                language, language_probability = result.language, result.language_probability
            found = result.segments
            if not window.last:
                found, tail_seconds = _hold_back(window, found, voiced)
                tail_seconds = reader.put_back(tail_seconds)
            found = [s for s in found if _credible(s, speech, length)]
            found = _with_underfilled_decoded_again(window, found, speech, voiced, engine,
                                                    options, language)
            found = _with_unheard_speech(window, found, speech, voiced, length - tail_seconds,
                                         engine, options, language)
            found = _after_seam(segments, found, window.offset)
        placed = [_place(s, window.offset) for s in found]
        if progress is not None:  # the window's final segments replace its tentative ones
            progress.segments(window.offset + length - tail_seconds, window.offset,
                              [report_segment(len(segments) + i, s.start, s.end, s.text)
                               for i, s in enumerate(placed)])
        segments.extend(placed)
        inference += time.perf_counter() - mark
        mark = time.perf_counter()
        if tracker is not None and placed:  # voices of this window's words, kept as embeddings
            tracker.add(window.samples, window.offset, placed, voiced)
            speakers_seconds += time.perf_counter() - mark
            mark = time.perf_counter()
    decode += time.perf_counter() - mark
    segments = _without_repeats(segments)
    attributed = None
    if tracker is not None:
        if progress is not None:
            progress.finding_speakers()
        mark = time.perf_counter()
        count = SpeakerCount(asked.speakers, asked.min_speakers, asked.max_speakers)
        attributed, speakers = tracker.finish(segments, count)
        segments = [item.segment for item in attributed]
        speakers_seconds += time.perf_counter() - mark

    for index, segment in enumerate(segments):
        segment.id = index
    return {
        "schema_version": SCHEMA_VERSION,
        "text": " ".join(s.text.strip() for s in segments if s.text.strip()),
        "language": language or "",
        "language_probability": round(language_probability, 4),
        "duration": round(reader.duration, 3),
        "segments": [_segment_dict(s, asked.word_timestamps, attributed[i] if attributed else None)
                     for i, s in enumerate(segments)],
        "options": {**asked.to_dict(), "batch_size": batch_size},
        "model": dataclasses.asdict(engine.info),
        "timings": {
            "decode_seconds": round(decode, 3),
            "vad_seconds": round(vad, 3),
            "inference_seconds": round(inference, 3),
            "total_seconds": round(time.perf_counter() - started, 3),
            **({"speakers_seconds": round(speakers_seconds, 3)} if tracker is not None else {}),
        },
        "warnings": reader.warnings,
        **({"speakers": speakers} if tracker is not None else {}),
    }


def _channels_as_speakers(path: str, channels: int, duration: float | None,
                          options: TranscribeOptions, engine: Engine, settings: Settings,
                          progress: Progress | None, started: float) -> dict:
    """One speaker per channel (a stereo call): each channel transcribed on its own, the
    turns merged in time order. A recording of one channel has its speakers found instead."""
    plain = dataclasses.replace(options, channels_as_speakers=False, diarize=False)
    if channels < 2:
        result = transcribe_file(path, dataclasses.replace(plain, diarize=True), engine, settings, progress)
        result["options"] = {**options.to_dict(), "batch_size": result["options"]["batch_size"]}
        result["warnings"].append("the recording has one channel: its speakers were told apart "
                                  "by their voices instead (as with diarize=true)")
        return result
    results = [transcribe_file(path, plain, engine, settings,
                               None if progress is None else ChannelProgress(progress, c, channels, duration),
                               channel=c)
               for c in range(channels)]
    segments, speakers = merge_channels(results)
    spoken = [r for r in results if r["language"]] or results
    timings: dict[str, float] = {}
    for result in results:
        for key, value in result["timings"].items():
            timings[key] = round(timings.get(key, 0.0) + value, 3)
    timings["total_seconds"] = round(time.perf_counter() - started, 3)
    return {
        **results[0],
        "text": " ".join(s["text"] for s in segments if s["text"]),
        "language": spoken[0]["language"],
        "language_probability": spoken[0]["language_probability"],
        "duration": max(r["duration"] for r in results),
        "segments": segments,
        "options": {**options.to_dict(), "batch_size": results[0]["options"]["batch_size"]},
        "timings": timings,
        "warnings": list(dict.fromkeys(w for r in results for w in r["warnings"])),
        "speakers": speakers,
    }


def _tentative_reporter(progress: Progress, offset: float, length: float, first_id: int):
    """The engine's per-segment callback for one window: reports the window's segments so
    far (on the recording's timeline) from the window's start."""
    made: list[dict] = []

    def on_segment(segment: Segment) -> None:
        made.append(report_segment(first_id + len(made), offset + segment.start,
                                   offset + segment.end, segment.text))
        progress.segments(offset + min(segment.end, length), offset, list(made))

    return on_segment


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


def _hold_back(window: Window, found: list[Segment],
               voiced: list[tuple[float, float]]) -> tuple[list[Segment], float]:
    """The tail of a window that is transcribed again at the start of the next one.

    Whisper decodes the end of a window without the audio that follows: its last sentence
    can come out cut short, and in the silence after it Whisper may repeat a sentence
    (measured: 9 extra words at one boundary of 120 s windows, 72 over ten 60 s windows).
    The segments that end in the window's last HOLD_BACK_SECONDS are dropped, and the
    audio from the first of them goes on into the next window, so every sentence is
    decoded with what comes after it (the engine may stop decoding at that segment).
    Segments are held back from at most MAX_HELD_BACK_SECONDS before the window's end.
    The audio is cut where the VAD hears no speech (`voiced`), at or before where
    Whisper's times say that segment starts: a window that starts inside speech drops the
    words it starts in. Where it starts mid-sentence (no sentence starts within reach),
    that time is a guess that can be seconds late, so the cut goes
    SEGMENT_TIME_ERROR_SECONDS further back first. The tail is never longer than the
    reader reads again (MAX_PUT_BACK of the window): audio before that would be lost.
    The segments that start before the cut are kept; the words of the last one that the
    next window hears again are removed there (`_after_seam`).
    Returns the segments kept and the tail's seconds."""
    length = len(window.samples) / SAMPLE_RATE
    longest = min(MAX_HELD_BACK_SECONDS, length * MAX_PUT_BACK)
    first_late = next((i for i, s in enumerate(found) if s.end > length - HOLD_BACK_SECONDS), None)
    margin = 0.0
    if first_late is None:  # what follows the last segment goes on (Whisper sometimes leaves
        start = max((s.end for s in found), default=length)  # a window's last words out)
    else:
        # From the start of its sentence: Whisper's segments often end mid-sentence, and
        # the next window, starting there, mishears the rest ("my fellow | America's").
        while (first_late > 0 and not found[first_late - 1].text.rstrip().endswith(SENTENCE_ENDS)
               and found[first_late - 1].start >= length - longest):
            first_late -= 1
        start = found[first_late].start
        if first_late > 0 and not found[first_late - 1].text.rstrip().endswith(SENTENCE_ENDS):
            margin = SEGMENT_TIME_ERROR_SECONDS  # no sentence starts within reach
        # One long segment: more than the reader reads again (or than a Whisper chunk) is
        # not decoded again; it is kept and what follows it goes on.
        if start < length - longest:
            start, margin = max(s.end for s in found), 0.0
    if start >= length:
        return found, 0.0
    # To find silence the cut may go back past MAX_HELD_BACK_SECONDS.
    cut = _silent_until(start - margin, voiced, earliest=length * (1 - MAX_PUT_BACK))
    if cut is None:  # speech all the way back: cut where Whisper's times say
        cut = start
    return [s for s in found if s.start < cut], length - cut


def _silent_until(latest: float, voiced: list[tuple[float, float]], *,
                  earliest: float) -> float | None:
    """The last moment, from `earliest` to `latest`, outside the `voiced` regions: `latest`
    itself in a pause, else where the speech around it begins; None if it begins before
    `earliest`."""
    for start, end in voiced:
        if start < latest < end:
            latest = start
            break
    return latest if latest >= earliest else None


def _after_seam(before: list[Segment], found: list[Segment], seam: float) -> list[Segment]:
    """A window's segments (in its own seconds; it starts at `seam` on the recording's
    timeline) without the words that the segments `before` it already hold: the window
    starts in a pause before the last kept segment ends (`_hold_back`), so it hears that
    segment's last words again. Removed: the longest run of words that ends the text
    before the seam and starts the window's text, looked for only in segments timed
    within SEGMENT_TIME_ERROR_SECONDS of the audio both heard. The copy the window heard
    is dropped: the one before was decoded with what came before it."""
    heard: list[Segment] = []  # the segments before, whose audio the window may hear again
    for segment in reversed(before):
        if segment.end <= seam - SEGMENT_TIME_ERROR_SECONDS:
            break
        heard.insert(0, segment)
    if not heard or not found:
        return found
    until = max(s.end for s in heard) - seam + SEGMENT_TIME_ERROR_SECONDS
    again = [s for i, s in enumerate(found) if i == 0 or s.start < until]
    tail = [w for s in heard for w in _words(s.text)]
    head = [w for s in again for w in _words(s.text)]
    size = next((n for n in range(min(len(tail), len(head)), 0, -1) if tail[-n:] == head[:n]), 0)
    return _without_first_words(found, size)


def _without_first_words(found: list[Segment], count: int) -> list[Segment]:
    """The segments without their first `count` words (as `_words` counts them): a segment
    left without words is dropped; one left with some starts at its first word where
    there are word timings."""
    result = list(found)
    while count and result:
        segment = result.pop(0)
        if len(_words(segment.text)) <= count:
            count -= len(_words(segment.text))
            continue
        if segment.words:
            words = list(segment.words)
            while count > 0 and words:
                count -= len(_words(words.pop(0).word))
            if words:
                result.insert(0, dataclasses.replace(segment, text="".join(w.word for w in words),
                                                     start=words[0].start, words=words))
        else:  # from the word after the last one dropped, without the punctuation between
            last = list(re.finditer(r"[\w']+", segment.text))[count - 1]
            rest = re.sub(r"^\W+", "", segment.text[last.end():])
            result.insert(0, dataclasses.replace(segment, text=" " + rest))
        count = 0
    return result


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
        added += _decode_again(window, start, end, speech, engine, options, language)
    return sorted(found + added, key=lambda s: s.start) if added else found


def _with_underfilled_decoded_again(window: Window, found: list[Segment],
                                    speech: list[tuple[float, float]],
                                    voiced: list[tuple[float, float]], engine: Engine,
                                    options: TranscribeOptions, language: str | None) -> list[Segment]:
    """Whisper sometimes skips a sentence (often one that repeats the one before) and times
    the next segment over both: that speech is covered, so no search for unheard stretches
    finds it. A segment whose words fill much less of the voiced speech under it than
    usual (`_underfilled`) is decoded again on its own, sequentially; what comes back
    replaces it if it is credible and holds more words. Returns the segments, in order."""
    result: list[Segment] = []
    for segment, underfilled in zip(found, _underfilled(found, voiced)):
        if underfilled:
            again = _decode_again(window, segment.start, segment.end, speech, engine, options, language)
            if sum(_word_count(s) for s in again) > _word_count(segment):
                result += again
                continue
        result.append(segment)
    return result


def _underfilled(found: list[Segment], voiced: list[tuple[float, float]]) -> list[bool]:
    """For each segment: whether its words, at the usual rate of the window's segments
    (words per second of voiced speech, their median, at least SLOW_WORDS_PER_SECOND),
    would fill less than UNDERFILLED_SHARE of the voiced speech in its time, leaving
    UNHEARD_SECONDS or more unfilled. The rate is the window's own, since people (and
    voices) speak at different speeds."""
    heard = [(_word_count(s), _voiced_seconds(s.start, s.end, voiced)) for s in found]
    rates = [words / seconds for words, seconds in heard if words and seconds > 0]
    usual = max(statistics.median(rates) if rates else 0.0, SLOW_WORDS_PER_SECOND)
    return [seconds - words / usual >= UNHEARD_SECONDS and words / usual < UNDERFILLED_SHARE * seconds
            for words, seconds in heard]


def _voiced_seconds(start: float, end: float, voiced: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(e, end) - max(s, start)) for s, e in voiced)


def _decode_again(window: Window, start: float, end: float, speech: list[tuple[float, float]],
                  engine: Engine, options: TranscribeOptions,
                  language: str | None) -> list[Segment]:
    """The credible segments of the window's audio from `start` to `end` decoded on its own,
    sequentially, with the window's `speech` regions; in the window's seconds. Whisper can
    time the last segment of a short piece past its end, though the audio goes on there
    and the words were heard before it: a segment that starts inside is cut at `end`."""
    result = engine.transcribe(
        window.samples[int(start * SAMPLE_RATE): int(end * SAMPLE_RATE)], options,
        language=language, batch_size=0,
        speech=[(max(s - start, 0.0), min(e, end) - start) for s, e in speech if e > start and s < end])
    again = [_place(s, start) for s in result.segments]
    for segment in again:
        if segment.start < end < segment.end:
            segment.end = end
            for word in segment.words or ():
                word.start, word.end = min(word.start, end), min(word.end, end)
    return [s for s in again if _credible(s, speech, end)]


def _without_repeats(segments: list[Segment]) -> list[Segment]:
    """Whisper can hear one stretch of speech twice: decoded again at a window's seam, or a
    batched clip's text repeated and its copy aligned into the time of the original. A run
    of segments (up to MAX_REPEATED_RUN) with the same words as the run just before it is
    dropped only where the two copies were heard from the same audio, their times
    overlapping by at least half the shorter one; the copy over more time is kept. A
    sentence said twice is heard from two stretches of audio: both stay."""
    kept: list[Segment] = []
    for segment in segments:
        kept.append(segment)
        for size in range(1, MAX_REPEATED_RUN + 1):
            if len(kept) < 2 * size:
                break
            first, second = kept[-2 * size:-size], kept[-size:]
            if ([_words(s.text) for s in first] == [_words(s.text) for s in second]
                    and _same_audio(first, second)):
                longer = max(first, second, key=lambda run: run[-1].end - run[0].start)
                kept[-2 * size:] = longer
                break
    return kept


def _same_audio(first: list[Segment], second: list[Segment]) -> bool:
    """Whether two runs of segments were timed over the same audio."""
    spans = [(run[0].start, run[-1].end) for run in (first, second)]
    overlap = min(end for _, end in spans) - max(start for start, _ in spans)
    return overlap >= 0 and overlap >= 0.5 * min(end - start for start, end in spans)


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _word_count(segment: Segment) -> int:
    return len(segment.text.split())


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
    words = _word_count(segment)
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


def _segment_dict(segment: Segment, with_words: bool, speakers: Attributed | None = None) -> dict:
    data = {
        "id": segment.id,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text.strip(),
        "avg_logprob": round(segment.avg_logprob, 4),
        "no_speech_prob": round(segment.no_speech_prob, 4),
        "compression_ratio": round(segment.compression_ratio, 4),
    }
    if speakers is not None:
        data["speaker"] = speakers.speaker
    if with_words:
        data["words"] = [
            {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
             "probability": round(w.probability, 4)}
            for w in segment.words or ()
        ]
        if speakers is not None:
            for word, name in zip(data["words"], speakers.word_speakers):
                word["speaker"] = name
    return data
