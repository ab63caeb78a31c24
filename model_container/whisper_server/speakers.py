"""Who speaks when (issue 16), from the words Whisper timed. No HTTP here.

Window by window, the transcriber hands over the audio it just transcribed and the segments
it kept (`SpeakerTracker.add`): their words are grouped into runs (consecutive words of one
sentence, at most MAX_RUN_SECONDS, no pause longer than MAX_GAP_SECONDS inside, cut where
the VAD hears a pause), each run's audio becomes one voice embedding (all of a window's runs in one batch through the encoder),
and only the embeddings and the runs' times are kept: memory grows with the number of runs
(1 KB each), not with the audio. At the end (`SpeakerTracker.finish`) the runs are clustered
(agglomerative, average linkage, cosine distance): the number of speakers is found by a
distance threshold, or given exactly, or kept within a range. Every word then carries the
speaker of its run, a segment is split where the speaker changes, and the result lists the
speakers with their talk time. With one speaker per channel (`merge_channels`), each
channel's own result is merged in time order instead.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from .engines.base import SENTENCE_ENDS, Segment, Word
from .voice_encoder import EMBEDDING_SIZE

SAMPLE_RATE = 16000
# A run of words is at most this long: long enough for a voice embedding (the encoder
# was trained on 1.6 s), short enough that a turn rarely starts inside one.
MAX_RUN_SECONDS = 3.0
# A pause this long between two words starts a new run (and may be a change of speaker).
MAX_GAP_SECONDS = 0.5
# A run is also cut where the VAD hears a pause; a piece shorter than this is left out.
MIN_PIECE_SECONDS = 0.25
# Automatic count: clusters whose average cosine distance is below this are one speaker.
# Measured on dialogues of 2 to 4 people (benchmarks/bench_speakers.py's voices): 0.42 to
# 0.44 found every count; 0.41 split the noisy 1961 recording in two, 0.45 merged the
# LibriSpeech reader with espeak-ng's male voice.
DISTANCE_THRESHOLD = 0.43
# Runs this short give noisy embeddings: they are clustered only when there are not
# enough longer ones, and otherwise go to the nearest speaker found from the longer ones.
RELIABLE_RUN_SECONDS = 1.0
# With the count found automatically, a "speaker" with less talk than this (seconds, and
# share of all talk) is taken for stray runs of the others and merged into the nearest one.
MIN_SPEAKER_SECONDS = 3.0
MIN_SPEAKER_SHARE = 0.02
# Average linkage holds a distance for every pair of runs: at most this many runs are
# clustered (about 32 MB of distances); the others go to the nearest speaker found.
MAX_CLUSTERED_RUNS = 3000


@dataclass(frozen=True)
class SpeakerCount:
    """How many speakers to find: `exactly`, or automatically within `at_least`..`at_most`."""
    exactly: int | None = None
    at_least: int | None = None
    at_most: int | None = None


@dataclass
class _Run:
    start: float  # seconds in the recording
    end: float
    label: int = -1


class SpeakerTracker:
    """Voice embeddings of a recording's word runs, gathered window by window."""

    def __init__(self, encoder=None):
        if encoder is None:
            from .voice_encoder import load_encoder
            encoder = load_encoder()
        self.encoder = encoder
        self.runs: list[_Run] = []
        self._embeddings: list[np.ndarray] = []
        self.embed_seconds = 0.0

    def add(self, samples: np.ndarray, offset: float, segments: list[Segment],
            voiced: list[tuple[float, float]] | None = None) -> None:
        """A window's 16 kHz samples (starting at `offset` seconds into the recording) and
        the segments kept from it, with word timings, in the recording's seconds.
        `voiced`: where the VAD hears words, in the window's seconds: a run is cut at
        every pause it holds (Whisper's word times run on across a pause, so a turn's last
        word and the next turn's first one can end up in one run)."""
        started = time.perf_counter()
        runs = word_runs(segments)
        if voiced:
            runs = within_voice(runs, [(offset + start, offset + end) for start, end in voiced])
        pieces, kept = [], []
        for start, end in runs:
            first = max(0, int(round((start - offset) * SAMPLE_RATE)))
            last = min(len(samples), int(round((end - offset) * SAMPLE_RATE)))
            if last - first >= SAMPLE_RATE // 10:  # at least 0.1 s of audio in this window
                pieces.append(samples[first:last])
                kept.append(_Run(start, end))
        if pieces:
            self._embeddings.append(self.encoder.embed(pieces).astype(np.float32))
            self.runs.extend(kept)
        self.embed_seconds += time.perf_counter() - started

    @property
    def embeddings(self) -> np.ndarray:
        if not self._embeddings:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        if len(self._embeddings) > 1:
            self._embeddings = [np.concatenate(self._embeddings)]
        return self._embeddings[0]

    def finish(self, segments: list[Segment], count: SpeakerCount = SpeakerCount()
               ) -> tuple[list[Attributed], list[dict]]:
        """Cluster the runs, give every word its speaker and split segments where it
        changes. Returns the segments (in order; ids to be renumbered) with their
        speakers, and the speakers list."""
        order = sorted(range(len(self.runs)), key=lambda i: self.runs[i].start)
        runs = [self.runs[i] for i in order]
        embeddings = self.embeddings[order] if order else self.embeddings
        durations = np.array([r.end - r.start for r in runs])
        labels = cluster(embeddings, durations, count)
        for run, label in zip(runs, labels):
            run.label = int(label)
        return assign(segments, runs)


def word_runs(segments: list[Segment]) -> list[tuple[float, float]]:
    """(start, end) of the runs of words that are embedded: consecutive words of one
    segment, ended by a sentence's end, a pause over MAX_GAP_SECONDS, or the segment's
    end; one longer than MAX_RUN_SECONDS is cut into equal parts at word boundaries."""
    runs: list[tuple[float, float]] = []
    for segment in segments:
        words = [w for w in segment.words or () if w.end > w.start]
        group: list[Word] = []
        for word in words:
            if group and word.start - group[-1].end > MAX_GAP_SECONDS:
                runs += _cut(group)
                group = []
            group.append(word)
            if word.word.strip().endswith(SENTENCE_ENDS):
                runs += _cut(group)
                group = []
        runs += _cut(group)
    return runs


def within_voice(runs: list[tuple[float, float]], voiced: list[tuple[float, float]]
                 ) -> list[tuple[float, float]]:
    """Each run as the stretches of it where the VAD hears speech (at least MIN_PIECE_SECONDS
    each); a run where it hears none stays as it is."""
    result = []
    for start, end in runs:
        pieces = [(max(start, s), min(end, e)) for s, e in voiced if e > start and s < end]
        pieces = [(s, e) for s, e in pieces if e - s >= MIN_PIECE_SECONDS]
        result += pieces or [(start, end)]
    return result


def _cut(words: list[Word]) -> list[tuple[float, float]]:
    if not words:
        return []
    length = words[-1].end - words[0].start
    parts = max(1, int(np.ceil(length / MAX_RUN_SECONDS - 1e-9)))
    if parts == 1 or len(words) == 1:
        return [(words[0].start, words[-1].end)]
    runs, group = [], []
    for word in words:
        boundary = words[0].start + length * (len(runs) + 1) / parts
        if group and word.end > boundary + 0.25 and len(runs) < parts - 1:
            runs.append((group[0].start, group[-1].end))
            group = []
        group.append(word)
    runs.append((group[0].start, group[-1].end))
    return runs


def cluster(embeddings: np.ndarray, durations: np.ndarray, count: SpeakerCount) -> np.ndarray:
    """A speaker number (0, 1, ...) for each embedding."""
    from scipy.cluster.hierarchy import fcluster, linkage

    total = len(embeddings)
    if total == 0:
        return np.zeros(0, dtype=int)
    if count.exactly == 1 or count.at_most == 1 or total == 1:
        return np.zeros(total, dtype=int)
    # Cluster the longer runs (if enough of them), at most MAX_CLUSTERED_RUNS, longest first.
    reliable = np.flatnonzero(durations >= RELIABLE_RUN_SECONDS)
    chosen = reliable if len(reliable) >= max(2, 0.3 * total) else np.arange(total)
    if len(chosen) > MAX_CLUSTERED_RUNS:
        chosen = np.sort(chosen[np.argsort(-durations[chosen], kind="stable")[:MAX_CLUSTERED_RUNS]])
    if len(chosen) < 2:
        return np.zeros(total, dtype=int)
    tree = linkage(embeddings[chosen].astype(np.float64), method="average", metric="cosine")
    if count.exactly:
        found = fcluster(tree, count.exactly, criterion="maxclust")
    else:
        found = fcluster(tree, DISTANCE_THRESHOLD, criterion="distance")
        n = len(set(found))
        low, high = count.at_least or 1, count.at_most or len(chosen)
        if not count.at_least or n > low:  # the stray clusters of the automatic count
            found = _without_stray(found, embeddings[chosen], durations[chosen], keep=low)
            n = len(set(found))
        if n < low or n > high:
            found = fcluster(tree, min(max(n, low), high), criterion="maxclust")
    centroids = _centroids(embeddings[chosen], found)
    labels = np.argmax(embeddings @ centroids.T, axis=1)
    # Once more, from the speakers' own centroids: every run goes to the nearest one.
    centroids = _centroids(embeddings, labels, durations)
    labels = np.argmax(embeddings @ centroids.T, axis=1)
    # Number the speakers in the order they first speak.
    first = {}
    for label in labels:
        first.setdefault(int(label), len(first))
    return np.array([first[int(label)] for label in labels], dtype=int)


def _centroids(embeddings: np.ndarray, labels: np.ndarray,
               weights: np.ndarray | None = None) -> np.ndarray:
    names = sorted(set(int(label) for label in labels))
    weights = np.ones(len(labels)) if weights is None else weights
    rows = []
    for name in names:
        mask = labels == name
        mean = (embeddings[mask] * weights[mask, None]).sum(axis=0)
        rows.append(mean / max(float(np.linalg.norm(mean)), 1e-9))
    return np.array(rows, dtype=np.float32)


def _without_stray(labels: np.ndarray, embeddings: np.ndarray, durations: np.ndarray,
                   *, keep: int) -> np.ndarray:
    """Clusters with too little talk (MIN_SPEAKER_SECONDS and MIN_SPEAKER_SHARE) merged into
    the nearest of the others, smallest first, while more than `keep` remain."""
    labels = labels.copy()
    total = float(durations.sum())
    while True:
        talk = {int(n): float(durations[labels == n].sum()) for n in set(labels)}
        if len(talk) <= max(keep, 1):
            return labels
        smallest = min(talk, key=talk.__getitem__)
        if talk[smallest] >= max(MIN_SPEAKER_SECONDS, MIN_SPEAKER_SHARE * total):
            return labels
        others = [n for n in talk if n != smallest]
        centroids = _centroids(embeddings, labels, durations)
        names = sorted(talk)
        mine = centroids[names.index(smallest)]
        nearest = max(others, key=lambda n: float(centroids[names.index(n)] @ mine))
        labels[labels == smallest] = nearest


def speaker_id(number: int) -> str:
    return f"S{number + 1}"


@dataclass
class Attributed:
    """A segment with its speaker, and its words' speakers (one for each of its words)."""
    segment: Segment
    speaker: str
    word_speakers: list[str] = dataclasses.field(default_factory=list)


def assign(segments: list[Segment], runs: list[_Run]) -> tuple[list[Attributed], list[dict]]:
    """Each word gets the speaker of the run it is in (or of the nearest run in time),
    each segment is split where its words change speaker. Returns the segments, in order,
    with their speakers, and the speakers list (id, label, seconds of talk)."""
    starts = [run.start for run in runs]

    def nearest(start: float, end: float) -> str:
        if not runs:  # no word long enough to embed: one speaker
            return speaker_id(0)
        middle = (start + end) / 2
        at = bisect.bisect_right(starts, middle) - 1
        candidates = [i for i in (at, at + 1) if 0 <= i < len(runs)]
        best = min(candidates, key=lambda i: max(runs[i].start - middle, middle - runs[i].end, 0.0))
        return speaker_id(runs[best].label)

    result: list[Attributed] = []
    for segment in segments:
        words = list(segment.words or ())
        if not words:
            result.append(Attributed(segment, nearest(segment.start, segment.end)))
            continue
        result += _split(segment, [nearest(w.start, w.end) for w in words])
    talk: dict[str, float] = {}
    for item in result:
        talk[item.speaker] = talk.get(item.speaker, 0.0) + max(0.0, item.segment.end - item.segment.start)
    listing = [{"id": name, "label": f"Speaker {name[1:]}", "seconds": round(talk[name], 1)}
               for name in sorted(talk, key=lambda n: int(n[1:]))]
    return result, listing


def _split(segment: Segment, names: list[str]) -> list[Attributed]:
    """The segment as one segment per stretch of words of one speaker."""
    words = list(segment.words or ())
    pieces: list[tuple[str, list[Word]]] = []
    for word, name in zip(words, names):
        if pieces and pieces[-1][0] == name:
            pieces[-1][1].append(word)
        else:
            pieces.append((name, [word]))
    if len(pieces) == 1:
        return [Attributed(segment, pieces[0][0], names)]
    parts = []
    for number, (name, part_words) in enumerate(pieces):
        part = dataclasses.replace(
            segment, words=part_words, text="".join(w.word for w in part_words),
            start=segment.start if number == 0 else part_words[0].start,
            end=segment.end if number == len(pieces) - 1 else part_words[-1].end)
        parts.append(Attributed(part, name, [name] * len(part_words)))
    return parts


# ---- one speaker per channel --------------------------------------------------------

class ChannelProgress:
    """Progress for one channel's pass when each channel is transcribed on its own: the
    stage, and the audio done as a share of all the passes (forward-only across them). No
    partial transcript: each pass starts from the recording's start again."""

    def __init__(self, progress, channel: int, channels: int, duration: float | None):
        self.progress, self.channel, self.channels, self.duration = progress, channel, channels, duration

    def transcribing(self, duration: float | None) -> None:
        if self.channel == 0:
            self.progress.transcribing(duration)

    def segments(self, seconds_done: float, segments_from: float | None, segments) -> None:
        if self.duration:
            done = (self.channel * self.duration + min(seconds_done, self.duration)) / self.channels
            self.progress.segments(done, None, [])

    def finding_speakers(self) -> None:
        pass


def merge_channels(results: list[dict]) -> tuple[list[dict], list[dict]]:
    """Each channel's result (channel c spoke as speaker S{c+1}) into one timeline: the
    segments in time order, with `speaker` (and on their words), and the speakers list.
    Words heard on two channels at the same time (one voice on both, or a loud bleed) are
    kept once: the copy Whisper was surest of (highest avg_logprob)."""
    tagged: list[tuple[int, dict]] = []
    for channel, result in enumerate(results):
        for segment in result["segments"]:
            name = speaker_id(channel)
            segment = {**segment, "speaker": name}
            if "words" in segment:
                segment["words"] = [{**w, "speaker": name} for w in segment["words"]]
            tagged.append((channel, segment))
    tagged.sort(key=lambda item: (item[1]["start"], item[0]))
    kept: list[tuple[int, dict]] = []
    for channel, segment in tagged:
        recent = range(max(0, len(kept) - 8), len(kept))  # in time order: a twin is among the last
        twin = next((i for i in recent if kept[i][0] != channel and _same_speech(kept[i][1], segment)), None)
        if twin is None:
            kept.append((channel, segment))
        elif segment["avg_logprob"] > kept[twin][1]["avg_logprob"]:
            kept[twin] = (channel, segment)
    kept.sort(key=lambda item: (item[1]["start"], item[0]))
    segments = [{**segment, "id": index} for index, (_, segment) in enumerate(kept)]
    talk: dict[int, float] = {}
    for channel, segment in kept:
        talk[channel] = talk.get(channel, 0.0) + max(0.0, segment["end"] - segment["start"])
    listing = [{"id": speaker_id(c), "label": f"Channel {c + 1}", "seconds": round(talk[c], 1), "channel": c}
               for c in sorted(talk)]
    return segments, listing


def _same_speech(a: dict, b: dict) -> bool:
    overlap = min(a["end"], b["end"]) - max(a["start"], b["start"])
    shorter = min(a["end"] - a["start"], b["end"] - b["start"])
    return overlap > 0.5 * max(shorter, 1e-3) and _plain(a["text"]) == _plain(b["text"])


def _plain(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()
