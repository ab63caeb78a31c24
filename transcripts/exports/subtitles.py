"""Subtitle cues a video editor accepts: at most `max_line_width` characters a line (42),
`max_line_count` lines (2) and MAX_CUE_SECONDS (7) a cue; cues break at the ends of
sentences and clauses and at pauses rather than anywhere, never inside a word and never
across a change of speaker, and no cue stays up across a silence.

With Whisper's word timings every cue is timed by its words. A segment without them (one a
person corrected: the machine's timings no longer fit its text) is cut the same way, its
words timed by their share of the segment's characters."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

MAX_LINE_WIDTH = 42  # Netflix's and the BBC's line length for Latin scripts
MAX_LINE_COUNT = 2
MAX_CUE_SECONDS = 7.0
WIDTH_RANGE = (10, 200)
COUNT_RANGE = (1, 10)
PAUSE_ENDS_CUE = 1.0  # seconds of silence after which the next words are a new cue
PAUSE_IS_BREAK = 0.3  # a pause this long is as good a place to break as a comma
_CLOSERS = "\"'”’)]»"
_SENTENCE = tuple(".?!…。？！")
_CLAUSE = tuple(",;:–—、，；：")
# Break costs: a cue that ends mid-phrase is what makes subtitles hard to read.
_AT_SENTENCE, _AT_CLAUSE, _MID_PHRASE = 0.0, 0.6, 3.0
_SCRAP = 1.0  # a cue under a quarter full, where the words could have gone elsewhere


@dataclasses.dataclass(frozen=True)
class SubtitleOptions:
    max_line_width: int = MAX_LINE_WIDTH
    max_line_count: int = MAX_LINE_COUNT

    @classmethod
    def parse(cls, width: str | None, count: str | None) -> SubtitleOptions:
        """From query parameters (None: the default); ValueError says what is wrong."""
        return cls(max_line_width=_whole("max_line_width", width, MAX_LINE_WIDTH, WIDTH_RANGE),
                   max_line_count=_whole("max_line_count", count, MAX_LINE_COUNT, COUNT_RANGE))


def _whole(name: str, raw: str | None, default: int, bounds: tuple[int, int]) -> int:
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not bounds[0] <= int(raw) <= bounds[1]:
        raise ValueError(f"{name} must be a whole number from {bounds[0]} to {bounds[1]}")
    return int(raw)


@dataclasses.dataclass
class Token:
    """A word (with the punctuation Whisper attaches to it) and its time."""
    text: str
    start: float
    end: float
    speaker: str | None  # the speaker's name as shown
    space: bool = True  # a space before it (on the same line)


@dataclasses.dataclass
class Cue:
    start: float
    end: float
    lines: list[str]
    speaker: str | None  # the name as shown; None without speakers
    turn: bool  # the first cue of a speaker's turn


def cues(segments: Sequence[dict[str, Any]], names: dict[str, str], options: SubtitleOptions,
         *, name_in_text: bool = False) -> list[Cue]:
    """The cues for these segments. `names`: speaker id → name shown. With `name_in_text`
    (SubRip, which has no voice tag) the first line of a turn's first cue starts with
    "Name: ", and counts toward its width."""
    made: list[Cue] = []
    previous: str | None = None
    for block in _blocks(t for s in segments for t in _tokens(s, names)):
        speaker = block[0].speaker
        turn = speaker is not None and speaker != previous
        prefix = len(speaker) + 2 if (turn and name_in_text and speaker) else 0
        for n, (j, i) in enumerate(_layout(block, options, prefix)):
            words = block[j:i]
            lines = _lines(words, options.max_line_width, _line_count(words, options.max_line_width,
                                                                      prefix if n == 0 else 0),
                           prefix if n == 0 else 0)
            if n == 0 and prefix:
                lines[0] = f"{speaker}: {lines[0]}"
            made.append(Cue(words[0].start, words[-1].end, lines, speaker, turn and n == 0))
        previous = speaker
    return _timed(made)


# ---------------------------------------------------------------- words

def _tokens(segment: dict[str, Any], names: dict[str, str]) -> list[Token]:
    speaker_id = segment.get("speaker")
    speaker = names.get(speaker_id, speaker_id) if speaker_id else None
    words = [w for w in segment.get("words") or () if str(w.get("word", "")).strip()]
    if words and all(w.get("start") is not None and w.get("end") is not None for w in words):
        tokens = [Token(w["word"].strip(), float(w["start"]), max(float(w["end"]), float(w["start"])),
                        speaker, space=n == 0 or w["word"][:1].isspace())
                  for n, w in enumerate(words)]
        return _whole_words(tokens)
    pieces = str(segment.get("text", "")).split()
    start = float(segment["start"])
    end = max(float(segment["end"]), start)
    total = sum(len(p) + 1 for p in pieces)
    tokens, done = [], 0
    for piece in pieces:  # timed by their share of the characters
        begin = start + (end - start) * done / total
        done += len(piece) + 1
        tokens.append(Token(piece, begin, start + (end - start) * done / total, speaker))
    return tokens


def _whole_words(tokens: list[Token]) -> list[Token]:
    """Whisper marks a new word with a leading space; a token without one continues the
    word before it ("don" + "'t") and is joined to it, so that no cue or line breaks inside
    a word. Scripts written without spaces (Chinese, Japanese) may break between any two
    characters, as their subtitles do."""
    joined: list[Token] = []
    for token in tokens:
        if joined and not token.space and not _spaceless(token.text[0]):
            last = joined[-1]
            last.text += token.text
            last.end = max(last.end, token.end)
        else:
            joined.append(token)
    return joined


def _spaceless(char: str) -> bool:
    return ord(char) >= 0x2E80  # CJK and after


def _blocks(tokens: Iterable[Token]) -> list[list[Token]]:
    """Runs of words no cue may span: a cue ends where the speaker changes and where
    a silence of PAUSE_ENDS_CUE begins."""
    blocks: list[list[Token]] = []
    for token in tokens:
        last = blocks[-1][-1] if blocks else None
        if last is None or token.speaker != last.speaker or token.start - last.end >= PAUSE_ENDS_CUE:
            blocks.append([token])
        else:
            blocks[-1].append(token)
    return blocks


# ---------------------------------------------------------------- cutting a run into cues

def _layout(block: list[Token], options: SubtitleOptions, prefix: int) -> list[tuple[int, int]]:
    """Where the cues of a run begin and end ([(first, past last)]): the cheapest cut that
    keeps every cue within the limits (a word too long for a line is a line of its own)."""
    n = len(block)
    capacity = options.max_line_width * options.max_line_count
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for j in range(n):
        if best[j] == math.inf:
            continue
        fit = _Fit(options.max_line_width, prefix if j == 0 else 0)
        for i in range(j + 1, n + 1):
            fit.add(block[i - 1])
            alone = i == j + 1
            if not alone and (fit.lines > options.max_line_count
                              or block[i - 1].end - block[j].start > MAX_CUE_SECONDS):
                break
            cost = best[j] + _cost(block, j, i, fit.chars, capacity)
            if cost < best[i]:
                best[i], back[i] = cost, j
    spans, i = [], n
    while i > 0:
        spans.append((back[i], i))
        i = back[i]
    return spans[::-1]


def _cost(block: list[Token], j: int, i: int, chars: int, capacity: int) -> float:
    cost = 1.0 + 0.5 * ((capacity - min(chars, capacity)) / capacity) ** 2  # fewer, even cues
    if i < len(block):
        cost += _break_cost(block[i - 1], block[i])
    if chars < capacity / 4 and not (j == 0 and i == len(block)):
        cost += _SCRAP
    return cost


def _break_cost(last: Token, following: Token) -> float:
    ending = last.text.rstrip(_CLOSERS)
    if ending.endswith(_SENTENCE):
        cost = _AT_SENTENCE
    elif ending.endswith(_CLAUSE):
        cost = _AT_CLAUSE
    else:
        cost = _MID_PHRASE
    if following.start - last.end >= PAUSE_IS_BREAK:
        cost = min(cost, _AT_CLAUSE)
    return cost


class _Fit:
    """Words wrapped greedily into lines of `width` (the fewest lines they can take)."""

    def __init__(self, width: int, prefix: int):
        self.width, self.lines, self.line, self.chars, self.empty = width, 1, prefix, prefix, True

    def add(self, token: Token) -> None:
        size = len(token.text)
        gap = 1 if token.space and not self.empty else 0
        if not self.empty and self.line + gap + size > self.width:
            self.lines += 1
            self.line, gap = size, 0
        else:
            self.line += gap + size
        self.chars += gap + size
        self.empty = False


def _line_count(words: list[Token], width: int, prefix: int) -> int:
    fit = _Fit(width, prefix)
    for word in words:
        fit.add(word)
    return fit.lines


def _lines(words: list[Token], width: int, count: int, prefix: int) -> list[str]:
    """The cue's words in `count` lines of even length (the greedy wrap leaves the last line
    short), preferring to break a line after punctuation."""
    n = len(words)
    if count <= 1 or n <= 1:
        return [_join(words)]

    chars = [0]  # chars[k]: the characters of words[:k], a space before each but the first
    for k, word in enumerate(words):
        chars.append(chars[-1] + len(word.text) + (1 if word.space and k else 0))

    def length(a: int, b: int) -> int:  # of words[a:b] as one line
        space = 1 if a and words[a].space else 0
        return chars[b] - chars[a] - space + (prefix if a == 0 else 0)

    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for lines in range(1, count + 1):
        for b in range(1, n + 1):
            for a in range(b - 1, -1, -1):
                size = length(a, b)
                if size > width and b - a > 1:
                    break
                if best[lines - 1][a] == inf:
                    continue
                cost = best[lines - 1][a] + size * size
                if b < n and _break_cost(words[b - 1], words[b]) >= _MID_PHRASE:
                    cost += width * width / 8  # worth some unevenness to break at punctuation
                if cost < best[lines][b]:
                    best[lines][b], back[lines][b] = cost, a
    if best[count][n] == inf:  # cannot happen: the greedy wrap found `count` lines
        return [_join(words)]
    spans, b = [], n
    for lines in range(count, 0, -1):
        a = back[lines][b]
        spans.append((a, b))
        b = a
    return [_join(words[a:b]) for a, b in reversed(spans) if b > a]


def _join(words: Sequence[Token]) -> str:
    return "".join((" " if w.space and k else "") + w.text for k, w in enumerate(words))


def _timed(made: list[Cue]) -> list[Cue]:
    """Cues in order, each shown at least a moment; Whisper's word timings can run a little
    into the next cue, and are trimmed there (speakers who talk over each other, in
    separate channels, keep their overlap)."""
    made.sort(key=lambda c: c.start)
    for cue, following in zip(made, made[1:] + [None]):
        if following is not None and following.start < cue.end <= following.start + 0.5:
            cue.end = max(following.start, cue.start)
        if cue.end - cue.start < 0.1:
            cue.end = cue.start + 0.1
            if following is not None and following.start > cue.start:
                cue.end = min(cue.end, following.start)
    return made
