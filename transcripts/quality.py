"""Quality checks on a model result: signs that a transcript needs a person's eyes.

`quality_flags(result, requested_language)` is a pure function over the model server's
result JSON (contracts/container/response.schema.json). It returns a list of
{"code", "reason"}: the code is stable (for filters and tests), the reason is written for a
reviewer: what was seen, where (m:ss into the audio), and why it matters. A clean result
gives an empty list. Missing or odd fields (older results, another engine) are skipped,
never an error: this runs where outcomes are recorded.
"""

from __future__ import annotations

import math
import re

from django.conf.locale import LANG_INFO  # plain data: names of languages by code

# Whisper's own decoding thresholds (openai-whisper `transcribe()` defaults, which
# faster-whisper copies). Whisper uses them to decide that a decoding attempt failed and to
# retry at a higher temperature; a segment that still ends past them is what slipped through.
NO_SPEECH_THRESHOLD = 0.6          # no_speech_prob above this: the model thought it was silence
LOGPROB_THRESHOLD = -1.0           # avg_logprob below this: the model was unsure of its words
COMPRESSION_RATIO_THRESHOLD = 2.4  # gzip ratio above this: text far more repetitive than speech

# Repetition loops are Whisper's typical hallucination ("thank you thank you thank you…").
# A phrase said twice happens in speech; the same phrase three times in a row rarely does.
REPEAT_MIN_TIMES = 3
NGRAM_MIN_WORDS = 3   # shorter phrases ("no, no, no") are ordinary speech
NGRAM_MAX_WORDS = 30  # longer loops also show as repeated segments and compression outliers;
                      # the cap keeps the scan linear in the transcript's length

SNIPPET_CHARS = 80
_WORD = re.compile(r"\w+(?:'\w+)*", re.UNICODE)


def quality_flags(result: dict, requested_language: str | None) -> list[dict]:
    """[{"code", "reason"}] for everything in `result` a reviewer should look at."""
    if not isinstance(result, dict):
        return []
    segments = [s for s in result.get("segments") or [] if isinstance(s, dict)]
    checks = (
        _repetition(segments),
        _text_over_silence(segments),
        _compression_outliers(segments),
        _low_confidence_overall(segments),
        _low_confidence_segments(segments),
        _language_mismatch(result.get("language"), requested_language),
    )
    return [flag for flag in checks if flag is not None]


# ---------------------------------------------------------------------- the checks

def _repetition(segments: list[dict]) -> dict | None:
    """One flag for a loop, said as a repeated phrase, else as repeated segments."""
    reason = _repeated_phrase(segments) or _repeated_segment(segments)
    return _flag("repetition", reason) if reason else None


def _repeated_phrase(segments: list[dict]) -> str | None:
    """The same phrase of NGRAM_MIN_WORDS+ words at least REPEAT_MIN_TIMES times in a row,
    across segment boundaries. Reports the longest such loop."""
    words, starts = [], []
    for segment in segments:
        for word in _words(segment):
            words.append(word)
            starts.append(segment.get("start"))
    best = None  # (span in words, phrase length, first index)
    for n in range(NGRAM_MIN_WORDS, NGRAM_MAX_WORDS + 1):
        if len(words) < REPEAT_MIN_TIMES * n:
            break
        # words[i] == words[i + n] for a run of r positions means the n words at the run's
        # start repeat (r // n + 1) times in a row: one linear pass per phrase length.
        run = 0
        for i in range(len(words) - n + 1):
            if i + n < len(words) and words[i] == words[i + n]:
                run += 1
                continue
            if run >= (REPEAT_MIN_TIMES - 1) * n:
                span, first = run + n, i - run
                if best is None or span > best[0]:
                    best = (span, n, first)
            run = 0
    if best is None:
        return None
    span, n, first = best
    times = span // n
    phrase = " ".join(words[first:first + n])
    return (f"The phrase “{_snippet(phrase)}” repeats {times} times in a row{_at(starts[first])}. "
            "Whisper loops like this when it hallucinates: check the audio there.")


def _repeated_segment(segments: list[dict]) -> str | None:
    """The same segment text in REPEAT_MIN_TIMES+ consecutive segments (short loops such as
    “Thank you.” that the phrase check, at three words or more, does not see)."""
    best = None  # (count, index of the first)
    previous, count = None, 0
    for index, segment in enumerate(segments + [{}]):  # the sentinel closes the last run
        key = " ".join(_words(segment))
        if key and key == previous:
            count += 1
            continue
        if previous and count >= REPEAT_MIN_TIMES and (best is None or count > best[0]):
            best = (count, index - count)
        previous, count = key, 1
    if best is None:
        return None
    count, first = best
    return (f"{count} segments in a row say the same thing, “{_snippet(_text(segments[first]))}”"
            f"{_at(segments[first].get('start'))}. A model stuck in a loop, or words "
            "invented over silence or music.")


def _text_over_silence(segments: list[dict]) -> dict | None:
    found = [s for s in segments
             if _text(s) and (_number(s.get("no_speech_prob")) or 0.0) > NO_SPEECH_THRESHOLD]
    if not found:
        return None
    first = found[0]
    return _flag("text_over_silence",
                 f"{_count(found, 'segment has', 'segments have')} text where the model judged the "
                 f"audio to be probably silence (no-speech probability above {NO_SPEECH_THRESHOLD:g}), "
                 f"first{_at(first.get('start'))}: “{_snippet(_text(first))}”. Whisper tends to "
                 "invent words over silence, music or noise.")


def _compression_outliers(segments: list[dict]) -> dict | None:
    found = [s for s in segments
             if _text(s) and (_number(s.get("compression_ratio")) or 0.0) > COMPRESSION_RATIO_THRESHOLD]
    if not found:
        return None
    worst = max(found, key=lambda s: _number(s.get("compression_ratio")) or 0.0)
    return _flag("high_compression_ratio",
                 f"{_count(found, 'segment is', 'segments are')} unusually repetitive (compression ratio "
                 f"above {COMPRESSION_RATIO_THRESHOLD:g}), the most{_at(worst.get('start'))} "
                 f"({_number(worst.get('compression_ratio')):.1f}): “{_snippet(_text(worst))}”. "
                 "Real speech rarely compresses this well; repeated or looping text does.")


def _low_confidence_overall(segments: list[dict]) -> dict | None:
    mean = _mean_logprob(segments)
    if mean is None or mean >= LOGPROB_THRESHOLD:
        return None
    return _flag("low_confidence",
                 f"The model was unsure of the transcript as a whole: its average log-probability is "
                 f"{mean:.2f} (below {LOGPROB_THRESHOLD:g}). Expect wrong words throughout: poor "
                 "audio, heavy accent or jargon, or another language.")


def _low_confidence_segments(segments: list[dict]) -> dict | None:
    found = [s for s in segments
             if _text(s) and (_number(s.get("avg_logprob")) or 0.0) < LOGPROB_THRESHOLD]
    if not found:
        return None
    worst = min(found, key=lambda s: _number(s.get("avg_logprob")) or 0.0)
    return _flag("low_confidence_segments",
                 f"{_count(found, 'segment was', 'segments were')} transcribed with low confidence "
                 f"(log-probability below {LOGPROB_THRESHOLD:g}), the lowest{_at(worst.get('start'))} "
                 f"({_number(worst.get('avg_logprob')):.2f}): “{_snippet(_text(worst))}”.")


def _language_mismatch(detected, requested) -> dict | None:
    asked, got = _language_code(requested), _language_code(detected)
    if not asked or not got or asked == got:
        return None
    return _flag("language_mismatch",
                 f"The job asked for {_language_name(asked)} but the result is in {_language_name(got)}. "
                 "The audio may be in another language than the one chosen, and the text may be a "
                 "translation or nonsense.")


# ---------------------------------------------------------------------- helpers

def _flag(code: str, reason: str) -> dict:
    return {"code": code, "reason": reason}


def _text(segment: dict) -> str:
    text = segment.get("text")
    return " ".join(text.split()) if isinstance(text, str) else ""


def _words(segment: dict) -> list[str]:
    return [w.lower() for w in _WORD.findall(_text(segment))]


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _mean_logprob(segments: list[dict]) -> float | None:
    """Mean of the segments' avg_logprob, weighted by each segment's length in seconds (a
    two-second aside weighs less than a two-minute passage); unweighted if lengths are absent."""
    pairs = [(_number(s.get("avg_logprob")), _length(s)) for s in segments if _text(s)]
    scored = [(p, w) for p, w in pairs if p is not None]
    if not scored:
        return None
    total = sum(w for _, w in scored)
    if total > 0:
        return sum(p * w for p, w in scored) / total
    return sum(p for p, _ in scored) / len(scored)


def _length(segment: dict) -> float:
    start, end = _number(segment.get("start")), _number(segment.get("end"))
    return max(end - start, 0.0) if start is not None and end is not None else 0.0


def _count(items: list, one: str, many: str) -> str:
    return f"1 {one}" if len(items) == 1 else f"{len(items)} {many}"


def _at(seconds) -> str:
    value = _number(seconds)
    if value is None:
        return ""
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f" at {hours}:{minutes:02d}:{secs:02d}" if hours else f" at {minutes}:{secs:02d}"


def _snippet(text: str) -> str:
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1].rstrip() + "…"


def _language_code(value) -> str:
    """"en", "EN", "en-US" and "en_us" are all English."""
    if not isinstance(value, str):
        return ""
    return value.strip().lower().replace("_", "-").split("-")[0]


def _language_name(code: str) -> str:
    name = LANG_INFO.get(code, {}).get("name")
    return f"{name} ({code})" if name else f"“{code}”"
