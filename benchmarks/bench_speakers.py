"""Speakers benchmark (issue 16): who speaks when, how well, and at what cost.

    .venv/bin/python benchmarks/bench_speakers.py [--minutes 60] [--ten 10] [--repeat 2]
        [--synthetic] [--skip-memory] [--only dialogue2,dialogue4,time,memory]

Builds dialogues with known turns from real speech: ../shared/audio's two people
(J. F. Kennedy's address, cut where he pauses, and a LibriSpeech reader, cut likewise),
joined in alternating turns with short pauses; the dialogue of more speakers adds two
espeak-ng voices that differ clearly (a low male and a high female voice). Without
../shared/audio (or with --synthetic) the people are espeak-ng voices. Then, each run in a
fresh process (its peak RSS its own), the container's pipeline (transcribe_file, the
server's defaults, temperature 0):

- dialogue2 / dialogue4: diarize=true, the count found automatically. The words attributed
  to the wrong speaker, after the best one-to-one mapping of found speakers to people
  (scipy's linear_sum_assignment), and the count. A word's person is found by its text:
  the transcript's words are aligned in order with the turns' words (Whisper's word times
  can fall a second into the next turn); words Whisper misheard are not scored.
- time: a 10-minute two-person dialogue (--ten), without and with diarize=true, alternating,
  --repeat times each; the fastest of each counts. Diarization's cost is the difference
  (word timings, which it needs, included).
- memory: a long dialogue (--minutes, 60 by default), without and with diarize=true: peak RSS.

Prints a markdown table and PASS/FAIL per goal, and writes benchmarks/out/speakers.json.
A benchmark, not a test: timings move with whatever else the machine does (the load
average is recorded beside them).
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_engine import (  # noqa: E402
    CONTAINER,
    OUT,
    SAMPLE_RATE,
    SHARED_AUDIO,
    THREADS,
    decode_to_pcm,
    device_name,
    load_average,
    normalize,
)
from bench_engine import run_worker as engine_run_worker  # noqa: E402

PAUSE_SECONDS = 0.4  # between turns
MAX_WRONG_WORDS = 0.05
MAX_ADDED_TIME = 0.15
MAX_RSS_RATIO = 1.2
COUNT_TOLERANCE_MANY = 1  # three or more speakers: the count within one

# Where the real recordings are cut into turns (seconds, what is said): at their pauses.
KENNEDY = ("jfk.flac", [(0.0, 2.6, "And so, my fellow Americans,"), (2.6, 4.7, "ask not"),
                        (4.7, 7.8, "what your country can do for you,"),
                        (7.8, 11.0, "ask what you can do for your country.")])
QUILTER = ("librispeech-1272-128104-0000.wav",
           [(0.3, 2.2, "Mr. Quilter is the apostle"),
            (2.2, 5.6, "of the middle classes and we are glad to welcome his gospel.")])
# espeak-ng voices (name, pitch) that differ clearly; sentences tiny.en hears exactly.
VOICES = {"low": ("en-us", 40), "high": ("en-us+f3", 80), "whisper": ("en-us+whisperf", 50)}
SENTENCES = ["Please send the report to John by Friday.",
             "Open the file, save your changes and close the window.",
             "Good morning, how are you today?"]


@dataclass
class Turn:
    who: str
    text: str
    samples: np.ndarray  # int16, 16 kHz mono


@dataclass
class Dialogue:
    path: Path
    seconds: float
    turns: list[tuple[str, str]]  # who, what they say, in order
    source: str


def espeak(text: str, voice: tuple[str, int], workdir: Path) -> np.ndarray:
    wav = workdir / f"espeak-{abs(hash((text, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice[0], "-p", str(voice[1]), "-s", "165", "-w", str(wav), text],
                   check=True)
    return decode_to_pcm(wav)


def people(workdir: Path, synthetic: bool) -> tuple[dict[str, list[Turn]], str]:
    """Each person's turns, by role: a and b (the two-person dialogue), c and d (more).
    Real: a Kennedy, b the LibriSpeech reader (each cut at pauses), c and d espeak-ng's high
    and low voices. Synthetic: a, b, c espeak-ng's low, high and whispering voices."""
    def voice(name: str) -> list[Turn]:
        return [Turn(name, text, espeak(text, VOICES[name], workdir)) for text in SENTENCES]

    real = not synthetic and all((SHARED_AUDIO / name).is_file() for name, _ in (KENNEDY, QUILTER))
    if not real:
        reason = "as asked" if synthetic else f"{SHARED_AUDIO} is absent"
        return ({"a": voice("low"), "b": voice("high"), "c": voice("whisper"), "d": []},
                f"espeak-ng voices only ({reason})")
    found = {}
    for role, (name, cuts) in (("a", KENNEDY), ("b", QUILTER)):
        samples = decode_to_pcm(SHARED_AUDIO / name)
        found[role] = [Turn(role, text, samples[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)])
                       for a, b, text in cuts]
    return {**found, "c": voice("high"), "d": voice("low")}, \
        f"real recordings from {SHARED_AUDIO} (a, b) and espeak-ng voices (c, d)"


def build_dialogue(path: Path, order: list[str], turns: dict[str, list[Turn]], seconds: float,
                   source: str) -> Dialogue:
    """People speak in `order`, over and over, each taking their next turn, until `seconds`
    are filled; streamed into a FLAC encoder (the long file never sits in memory)."""
    order = [who for who in order if turns.get(who)]
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), dtype="<i2")
    encoder = subprocess.Popen(["ffmpeg", "-y", "-nostdin", "-v", "error", "-f", "s16le", "-ar",
                                str(SAMPLE_RATE), "-ac", "1", "-i", "-", str(path)], stdin=subprocess.PIPE)
    total, said, next_turn = 0, [], dict.fromkeys(order, 0)
    while total < seconds * SAMPLE_RATE:
        for who in order:
            turn = turns[who][next_turn[who] % len(turns[who])]
            next_turn[who] += 1
            encoder.stdin.write(turn.samples.tobytes() + pause.tobytes())
            total += len(turn.samples) + len(pause)
            said.append((who, turn.text))
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {path}")
    return Dialogue(path, total / SAMPLE_RATE, said, source)


# --------------------------------------------------------------------------- scoring

def score(dialogue: Dialogue, words: list[tuple[str, str]]) -> dict:
    """`words`: the transcript's (word, speaker) in order. Each word's person by alignment
    with the turns' text; then the best one-to-one mapping of speakers to people."""
    from scipy.optimize import linear_sum_assignment

    said = [(w, speaker) for text, speaker in words for w in normalize(text)]
    reference = [(w, who) for who, text in dialogue.turns for w in normalize(text)]
    matcher = difflib.SequenceMatcher(None, [w for w, _ in said], [w for w, _ in reference],
                                      autojunk=False)
    pairs = [(reference[block.b + k][1], said[block.a + k][1])
             for block in matcher.get_matching_blocks() for k in range(block.size)]
    persons = sorted({who for who, _ in dialogue.turns})
    speakers = sorted({speaker for _, speaker in words})
    table = np.zeros((len(persons), max(len(speakers), 1)))
    for who, speaker in pairs:
        table[persons.index(who), speakers.index(speaker)] += 1
    rows, columns = linear_sum_assignment(-table)
    right = table[rows, columns].sum()
    return {"people": len(persons), "speakers_found": len(speakers), "words_scored": len(pairs),
            "words_in_transcript": len(said), "wrong_share": 1 - right / max(len(pairs), 1),
            "mapping": {speakers[c]: persons[r] for r, c in zip(rows, columns) if c < len(speakers)}}


# --------------------------------------------------------------------------- workers

def worker_main(spec: dict) -> None:
    """One configuration in this process: load the engine, transcribe, print one JSON line."""
    sys.path.insert(0, str(CONTAINER))
    from whisper_server.engines import load_engine
    from whisper_server.options import options_from_mapping
    from whisper_server.settings import Settings
    from whisper_server.transcriber import transcribe_file

    settings = Settings(cpu_threads=THREADS)
    engine = load_engine(settings)
    options = options_from_mapping({"temperature": 0.0, **spec["options"]})
    wall, cpu = time.perf_counter(), time.process_time()
    result = transcribe_file(spec["audio"], options, engine, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    words = [(w["word"], w.get("speaker") or s.get("speaker") or "-")
             for s in result["segments"] for w in s.get("words") or [{"word": s["text"]}]]
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "timings": result["timings"],
                      "speakers": result.get("speakers"), "words": words,
                      "segments": len(result["segments"])}))


def run_worker(spec: dict) -> dict:
    return engine_run_worker(spec, script=__file__, log_name="speakers-worker.log")


DIARIZE = {"diarize": True}  # word timings are computed inside, and not returned
PLAIN: dict = {}


def scored_run(dialogue: Dialogue) -> dict:
    # Words are asked for, so that each word's speaker can be scored.
    run = run_worker({"audio": str(dialogue.path), "options": {"diarize": True, "word_timestamps": True}})
    return {**run, "score": score(dialogue, run["words"])}


# --------------------------------------------------------------------------- the benchmark

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60, help="the long file for memory (default 60)")
    parser.add_argument("--ten", type=float, default=10, help="the file for the time goal (default 10 min)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs each way (default 2)")
    parser.add_argument("--synthetic", action="store_true", help="espeak-ng voices only")
    parser.add_argument("--only", type=lambda t: set(t.split(",")),
                        default={"dialogue2", "dialogue4", "time", "memory"})
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "speakers-worker.log").unlink(missing_ok=True)
    started = time.perf_counter()
    context = {"device_name": device_name("cpu"), "load_before": load_average(), "threads": THREADS}
    rows: dict[str, dict] = {}
    goals: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-speakers-") as workdir:
        turns, source = people(Path(workdir), args.synthetic)
        context["audio_source"] = source

        def log(text: str) -> None:
            print(f"... {text}", file=sys.stderr, flush=True)

        if "dialogue2" in args.only:
            dialogue = build_dialogue(OUT / "dialogue2.flac", ["a", "b"], turns, 180, source)
            log(f"two people, {dialogue.seconds / 60:.1f} min")
            rows["dialogue2"] = run = scored_run(dialogue)
            run["audio_seconds"] = dialogue.seconds
            s = run["score"]
            goals.append({"goal": f"two people: wrong-speaker words <= {MAX_WRONG_WORDS:.0%}, count exact",
                          "measured": f"{s['wrong_share']:.1%} of {s['words_scored']} words, "
                                      f"{s['speakers_found']} found of {s['people']}",
                          "pass": s["wrong_share"] <= MAX_WRONG_WORDS and s["speakers_found"] == s["people"]})
        if "dialogue4" in args.only:
            order = ["a", "b", "c", "a", "d", "b", "c", "d"]
            dialogue = build_dialogue(OUT / "dialogue4.flac", order, turns, 150, source)
            log(f"{len({w for w, _ in dialogue.turns})} people, {dialogue.seconds / 60:.1f} min")
            rows["dialogue4"] = run = scored_run(dialogue)
            run["audio_seconds"] = dialogue.seconds
            s = run["score"]
            goals.append({"goal": f"{s['people']} people: count within {COUNT_TOLERANCE_MANY}",
                          "measured": f"{s['speakers_found']} found; wrong-speaker words "
                                      f"{s['wrong_share']:.1%} of {s['words_scored']}",
                          "pass": abs(s["speakers_found"] - s["people"]) <= COUNT_TOLERANCE_MANY})
        if "time" in args.only:
            dialogue = build_dialogue(OUT / "dialogue-time.flac", ["a", "b"], turns,
                                      args.ten * 60, source)
            walls: dict[str, list[dict]] = {"plain": [], "diarize": []}
            for n in range(args.repeat):
                for name, options in (("plain", PLAIN), ("diarize", DIARIZE)):
                    log(f"{dialogue.seconds / 60:.1f} min, {name}, run {n + 1} of {args.repeat}")
                    walls[name].append(run_worker({"audio": str(dialogue.path), "options": options}))
            best = {name: min(runs, key=lambda r: r["wall_s"]) for name, runs in walls.items()}
            added = best["diarize"]["wall_s"] / best["plain"]["wall_s"] - 1
            added_cpu = (min(r["cpu_s"] for r in walls["diarize"]) / min(r["cpu_s"] for r in walls["plain"]) - 1)
            rows["time"] = {"audio_seconds": dialogue.seconds,
                            **{f"{name}_walls": [round(r["wall_s"], 2) for r in runs] for name, runs in walls.items()},
                            **{f"{name}_cpu": [round(r["cpu_s"], 2) for r in runs] for name, runs in walls.items()},
                            "speakers_seconds": best["diarize"]["timings"].get("speakers_seconds"),
                            "speakers_found": len(best["diarize"]["speakers"] or []), "added": added,
                            "added_cpu": added_cpu}
            goals.append({"goal": f"diarization adds <= {MAX_ADDED_TIME:.0%} to a "
                                  f"{dialogue.seconds / 60:.0f}-minute job",
                          "measured": f"{added:+.1%} (best of {args.repeat}: "
                                      f"{best['plain']['wall_s']:.1f} s -> {best['diarize']['wall_s']:.1f} s; "
                                      f"CPU seconds {added_cpu:+.1%}; embedding and clustering "
                                      f"{best['diarize']['timings'].get('speakers_seconds')} s)",
                          "pass": added <= MAX_ADDED_TIME})
        if "memory" in args.only:
            dialogue = build_dialogue(OUT / "dialogue-long.flac", ["a", "b"], turns,
                                      args.minutes * 60, source)
            peaks = {}
            for name, options in (("plain", PLAIN), ("diarize", DIARIZE)):
                log(f"{dialogue.seconds / 60:.1f} min, {name}, peak RSS")
                run = run_worker({"audio": str(dialogue.path), "options": options})
                peaks[name] = run
            ratio = peaks["diarize"]["peak_rss_mb"] / peaks["plain"]["peak_rss_mb"]
            rows["memory"] = {"audio_seconds": dialogue.seconds,
                              **{f"{n}_peak_rss_mb": round(r["peak_rss_mb"], 1) for n, r in peaks.items()},
                              **{f"{n}_wall_s": round(r["wall_s"], 1) for n, r in peaks.items()},
                              "speakers_found": len(peaks["diarize"]["speakers"] or []), "ratio": ratio}
            goals.append({"goal": f"peak RSS of a {dialogue.seconds / 60:.0f}-minute job with speakers "
                                  f"<= {MAX_RSS_RATIO}x without",
                          "measured": f"{ratio:.2f}x ({peaks['plain']['peak_rss_mb']:.0f} MB -> "
                                      f"{peaks['diarize']['peak_rss_mb']:.0f} MB)",
                          "pass": ratio <= MAX_RSS_RATIO})
    context["load_after"] = load_average()
    print(markdown(rows, goals, context))
    for run in rows.values():
        run.pop("words", None)
    report = {"generated": datetime.now(UTC).isoformat(timespec="seconds"),
              "seconds_taken": round(time.perf_counter() - started, 1), **context,
              "rows": rows, "goals": goals}
    (OUT / "speakers.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    print(f"\nWritten to {(OUT / 'speakers.json').relative_to(ROOT)}.")


def markdown(rows: dict[str, dict], goals: list[dict], context: dict) -> str:
    lines = [f"Machine: {context['device_name']}, {context['threads']} threads; load "
             f"{context['load_before']} before, {context['load_after']} after.",
             f"Audio: {context.get('audio_source', '-')}.", "",
             "| run | audio | wall s | speakers found | wrong-speaker words | peak RSS MB |",
             "|---|---|---|---|---|---|"]
    for key in ("dialogue2", "dialogue4"):
        if key in rows:
            r, s = rows[key], rows[key]["score"]
            lines.append(f"| {key} | {r['audio_seconds'] / 60:.1f} min, {s['people']} people | "
                         f"{r['wall_s']:.1f} | {s['speakers_found']} | {s['wrong_share']:.1%} of "
                         f"{s['words_scored']} | {r['peak_rss_mb']:.0f} |")
    if "time" in rows:
        r = rows["time"]
        lines.append(f"| time, without / with | {r['audio_seconds'] / 60:.1f} min | "
                     f"{r['plain_walls']} / {r['diarize_walls']} | {r['speakers_found']} | - | - |")
    if "memory" in rows:
        r = rows["memory"]
        lines.append(f"| memory, without / with | {r['audio_seconds'] / 60:.1f} min | "
                     f"{r['plain_wall_s']} / {r['diarize_wall_s']} | {r['speakers_found']} | - | "
                     f"{r['plain_peak_rss_mb']} / {r['diarize_peak_rss_mb']} |")
    lines += ["", "Goals:"]
    lines += [f"- {'PASS' if g['pass'] else 'FAIL'}: {g['goal']}: {g['measured']}" for g in goals]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
