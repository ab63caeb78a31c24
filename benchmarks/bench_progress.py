"""Progress benchmark: how soon and how often a long job shows what it has done, and what
reporting costs.

    .venv/bin/python benchmarks/bench_progress.py [--minutes 10] [--repeat 2] [--synthetic]

Builds a recording of real speech (../shared/audio, joined and repeated as the engine
benchmark does; espeak-ng without it), starts the real model server, and sends the same
file alternately without a progress sink (today's request) and with one (the NDJSON stream
of contracts/container/progress, as the local dispatcher asks for it). For each streamed
run it records when each report arrived. Prints a markdown table and a Goals section, and
writes benchmarks/out/progress.json.

The time to the first words is measured at the model server's answer: the web app stores
a report and broadcasts it to the job page within its throttle (about one second), which
the job page figure adds on top.

This is a benchmark, not a test: its timings move with whatever else the machine does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench_engine import OUT, build_recording, load_average, load_clips  # noqa: E402

from devtools.servers import start_server  # noqa: E402

FIRST_WORDS_SHARE = 0.10  # of the whole job's time
MAX_REPORT_GAP_SECONDS = 30.0  # of audio between two reports
MAX_OVERHEAD_SHARE = 0.02
ETA_TOLERANCE = 0.25


@dataclass
class StreamedRun:
    total: float  # seconds from the request to the result
    reports: list[tuple[float, dict]] = field(default_factory=list)  # (arrival, report)

    def first_words(self) -> float:
        return next(at for at, report in self.reports if report["segments"])

    def largest_gap(self, duration: float) -> float:
        """The most audio, in seconds, that went by without a report (from the start, and
        to the end of the recording)."""
        done = [0.0] + [report["seconds_done"] for _, report in self.reports] + [duration]
        return max(later - earlier for earlier, later in zip(done, done[1:]))

    def estimate_at_half(self, duration: float) -> tuple[float, float]:
        """At the first report past half the audio: (the time left as the web app estimates
        it, from this job's speed so far; the time that was really left)."""
        started = next(at for at, report in self.reports if report["stage"] == "transcribing")
        at, report = next((at, report) for at, report in self.reports
                          if report["seconds_done"] >= duration / 2)
        speed = (at - started) / report["seconds_done"]  # seconds of work per second of audio
        return speed * (duration - report["seconds_done"]), self.total - at


def plain_run(url: str, audio: bytes) -> float:
    started = time.perf_counter()
    response = requests.post(f"{url}/invocations", data=audio, timeout=3600,
                             headers={"Content-Type": "application/octet-stream"})
    response.raise_for_status()
    return time.perf_counter() - started


def streamed_run(url: str, audio: bytes) -> StreamedRun:
    started = time.perf_counter()
    reports = []
    with requests.post(f"{url}/invocations", data=audio, timeout=3600, stream=True,
                       headers={"Content-Type": "application/octet-stream",
                                "Accept": "application/x-ndjson"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line:
                continue
            event = json.loads(line)
            if event["event"] == "progress":
                reports.append((time.perf_counter() - started, event))
            elif event["event"] == "error":
                raise RuntimeError(f"the model server failed: {event}")
    return StreamedRun(time.perf_counter() - started, reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the recording (default 10)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs with and without a sink, alternating; the best of each counts")
    parser.add_argument("--synthetic", action="store_true", help="espeak-ng speech even when ../shared/audio is there")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as folder:
        work = Path(folder)
        clips, source = load_clips(work, args.synthetic)
        recording = build_recording(work / "recording.flac", clips, args.minutes * 60)
        audio = recording.path.read_bytes()
        server = start_server(work)
        try:
            plain_run(server.url, audio)  # warm-up: caches, first allocations
            plains, streams = [], []
            for _ in range(args.repeat):
                plains.append(plain_run(server.url, audio))
                streams.append(streamed_run(server.url, audio))
        finally:
            server.stop()

    duration = recording.seconds
    best = min(streams, key=lambda run: run.total)
    plain = min(plains)
    first = best.first_words()
    gap = max(run.largest_gap(duration) for run in streams)
    overhead = best.total / plain - 1
    estimated, real = best.estimate_at_half(duration)
    eta_error = estimated / real - 1
    goals = [
        {"goal": f"first words within {FIRST_WORDS_SHARE:.0%} of the job's time",
         "measured": f"{first:.1f} s of {best.total:.1f} s ({first / best.total:.1%})",
         "met": first <= FIRST_WORDS_SHARE * best.total},
        {"goal": f"a report at least every {MAX_REPORT_GAP_SECONDS:.0f} s of audio",
         "measured": f"largest gap {gap:.1f} s of audio", "met": gap <= MAX_REPORT_GAP_SECONDS},
        {"goal": f"reporting adds at most {MAX_OVERHEAD_SHARE:.0%} to the job's time",
         "measured": f"{best.total:.1f} s with a sink, {plain:.1f} s without ({overhead:+.1%})",
         "met": overhead <= MAX_OVERHEAD_SHARE},
        {"goal": f"time left estimated at 50 % within ±{ETA_TOLERANCE:.0%}",
         "measured": f"estimated {estimated:.1f} s, really {real:.1f} s ({eta_error:+.1%})",
         "met": abs(eta_error) <= ETA_TOLERANCE},
    ]
    print(f"# Progress, {duration / 60:.1f} minutes of audio ({source})\n")
    print("| run | without a sink (s) | with a sink (s) | reports | first words (s) |")
    print("|---|---|---|---|---|")
    for index, (p, s) in enumerate(zip(plains, streams), 1):
        print(f"| {index} | {p:.1f} | {s.total:.1f} | {len(s.reports)} | {s.first_words():.1f} |")
    print("\n## Goals\n")
    for goal in goals:
        print(f"- {'PASS' if goal['met'] else 'FAIL'}: {goal['goal']}: {goal['measured']}")
    report = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "source": source,
              "audio_seconds": round(duration, 1), "load_before": load_before, "load_after": load_average(),
              "plain_seconds": [round(p, 2) for p in plains],
              "streamed": [{"total": round(s.total, 2), "reports": [
                  {"at": round(at, 2), "seconds_done": r["seconds_done"], "segments": len(r["segments"])}
                  for at, r in s.reports]} for s in streams],
              "goals": goals}
    (OUT / "progress.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten to {(OUT / 'progress.json').relative_to(ROOT)}.")


if __name__ == "__main__":
    main()
