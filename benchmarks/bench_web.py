"""Web app benchmark (`make bench`): prints its figures and writes benchmarks/out/web.json.

1. End to end: from the upload's response to the "completed" event on the websocket,
   divided by the model server's own time for the same 30 s clip (median of 10). Goal <= 1.10.
2. Dashboard and search server time with 100,000 jobs vs 100 jobs. Goal <= 2.
3. A 1 GB upload raises the web process's peak RSS by at most 64 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from devtools.servers import start_server, start_web_app  # noqa: E402

SHARED_AUDIO = REPO.parent / "shared" / "audio"
OUT = REPO / "benchmarks" / "out"
PASSWORD = "bench-password-42"


# ---------------------------------------------------------------- audio

def make_clip(folder: Path) -> Path:
    """About 30 s of real speech: the shared recordings with pauses, else espeak-ng."""
    target = folder / "clip30.wav"
    sources = [SHARED_AUDIO / "jfk.flac", SHARED_AUDIO / "librispeech-1272-128104-0000.wav",
               SHARED_AUDIO / "jfk.flac"]
    if not all(p.exists() for p in sources):
        sources = []
        for i, text in enumerate(["Please send the report to John by Friday.",
                                  "Open the file, save your changes and close the window.",
                                  "Good morning, how are you today?"] * 3):
            part = folder / f"s{i}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(part), text], check=True)
            sources.append(part)
    inputs = sum((["-i", str(p)] for p in sources), [])
    filters = ";".join(f"[{i}:a]aformat=sample_rates=16000:channel_layouts=mono,apad=pad_dur=1[a{i}]"
                       for i in range(len(sources)))
    chain = "".join(f"[a{i}]" for i in range(len(sources)))
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex",
                    f"{filters};{chain}concat=n={len(sources)}:v=0:a=1[out]", "-map", "[out]",
                    str(target)], check=True)
    return target


# ---------------------------------------------------------------- a person's session

class Browser:
    """What a browser does: sign up, keep the session cookie, send the CSRF token."""

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        self.http.get(f"{base}/accounts/signup/")
        name = f"bench-{uuid.uuid4().hex[:6]}"
        self.http.post(f"{base}/accounts/signup/", data={
            "username": name, "password1": PASSWORD, "password2": PASSWORD,
            "csrfmiddlewaretoken": self.http.cookies["csrftoken"]}, allow_redirects=False)
        self.csrf = self.http.cookies["csrftoken"]

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def upload(self, path: Path) -> dict:
        with open(path, "rb") as audio:
            response = self.http.post(f"{self.base}/upload/", files={"file": (path.name, audio)},
                                      data={"task": "transcribe"}, headers={"X-CSRFToken": self.csrf})
        response.raise_for_status()
        return response.json()["job"]


def end_to_end(web, model, clip: Path, runs: int) -> dict:
    from websockets.sync.client import connect

    browser = Browser(web.url)
    ws_url = web.url.replace("http", "ws") + "/ws/jobs/"
    direct, e2e = [], []
    for _ in range(runs):
        started = time.perf_counter()
        response = model.invoke(clip, attributes="task=transcribe;word_timestamps=false")
        direct.append(time.perf_counter() - started)
        response.raise_for_status()
        with connect(ws_url, additional_headers={"Cookie": browser.cookie_header(),
                                                 "Origin": web.url}) as socket:
            job = browser.upload(clip)
            uploaded = time.perf_counter()
            while True:
                event = json.loads(socket.recv(timeout=120))
                if event.get("job", {}).get("public_id") == job["public_id"] and \
                        event["job"]["status"] in ("completed", "failed"):
                    assert event["job"]["status"] == "completed", event
                    e2e.append(time.perf_counter() - uploaded)
                    break
    ratio = statistics.median(e2e) / statistics.median(direct)
    return {"clip_seconds": 30, "model_server_median_s": round(statistics.median(direct), 3),
            "end_to_end_median_s": round(statistics.median(e2e), 3), "ratio": round(ratio, 3),
            "goal": "<= 1.10", "pass": ratio <= 1.10}


# ---------------------------------------------------------------- 1 GB upload

def big_upload(web, size: int) -> dict:
    """Stream a WAV of `size` bytes (silence) as a multipart upload; sample the web
    process's RSS meanwhile."""
    browser = Browser(web.url)
    process = psutil.Process(web.process.pid)
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.05)

    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"task\"\r\n\r\ntranscribe\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    data_bytes = size - 44
    wav_header = (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
                  struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) +
                  b"data" + struct.pack("<I", data_bytes))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=600)
    connection.putrequest("POST", "/upload/")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + size + len(tail)))
    connection.putheader("Cookie", browser.cookie_header())
    connection.putheader("X-CSRFToken", browser.csrf)
    connection.putheader("Referer", web.url + "/upload/")
    connection.endheaders()
    connection.send(head + wav_header)
    chunk = bytes(1024 * 1024)
    left = data_bytes
    while left > 0:
        connection.send(chunk[: min(len(chunk), left)])
        left -= len(chunk)
    connection.send(tail)
    response = connection.getresponse()
    body = response.read()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    growth = (peak[0] - baseline) / 1024**2
    return {"upload_bytes": size, "status": response.status, "answer": body.decode()[:200],
            "seconds": round(seconds, 1), "rss_before_mb": round(baseline / 1024**2, 1),
            "rss_peak_mb": round(peak[0] / 1024**2, 1), "rss_growth_mb": round(growth, 1),
            "goal": "<= 64 MB", "pass": response.status == 201 and growth <= 64}


# ---------------------------------------------------------------- dashboard at scale

def dashboard_scale(folder: Path, small: int, large: int, repeats: int) -> dict:
    """Server time of the dashboard and a search, for a person with `small` jobs and one
    with `large` jobs, in one SQLite database (in-process, Django's test client)."""
    os.environ.update(VAR_DIR=str(folder), DJANGO_SETTINGS_MODULE="webapp.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from transcripts.models import Job

    setup_test_environment()
    call_command("migrate", verbosity=0)
    vocabulary = ("budget meeting report quarterly customer invoice design review launch "
                  "schedule hiring roadmap release support contract travel training").split()
    rng = random.Random(7)

    def populate(name: str, count: int):
        user = get_user_model().objects.create_user(name, password=PASSWORD)
        batch = []
        for i in range(count):
            text = " ".join(rng.choice(vocabulary) for _ in range(40))
            batch.append(Job(owner=user, original_name=f"{name}-{i}.wav", audio=f"audio/{i}",
                             status="completed", rank=3, transcript_text=text, duration=60.0,
                             language="en"))
            if len(batch) == 5000:
                Job.objects.bulk_create(batch)
                batch = []
        Job.objects.bulk_create(batch)
        return user

    started = time.perf_counter()
    users = {"small": populate("small", small), "large": populate("large", large)}
    populate_seconds = time.perf_counter() - started

    def server_time(user, params) -> float:
        client = Client()
        client.force_login(user)
        client.get("/", params)  # warm
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            response = client.get("/", params)
            times.append(time.perf_counter() - t)
            assert response.status_code == 200
        return statistics.median(times)

    figures = {}
    for label, params in (("dashboard", {}), ("search", {"q": "invoice roadmap"}),
                          ("filtered", {"status": "completed"})):
        small_t, large_t = server_time(users["small"], params), server_time(users["large"], params)
        figures[label] = {f"{small}_jobs_ms": round(small_t * 1000, 2),
                          f"{large}_jobs_ms": round(large_t * 1000, 2),
                          "ratio": round(large_t / small_t, 2), "goal": "<= 2",
                          "pass": large_t / small_t <= 2}
    figures["populate_seconds"] = round(populate_seconds, 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller sizes")
    args = parser.parse_args()
    runs, upload_size, large = (3, 100 * 1024**2, 10_000) if args.quick else (10, 1024**3, 100_000)
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder)
        (folder / "serve").mkdir()
        model = start_server(folder / "serve")
        (folder / "web").mkdir()
        web = start_web_app(folder / "web", model.url)
        try:
            results["end_to_end"] = end_to_end(web, model, clip, runs)
            results["upload_1gb"] = big_upload(web, upload_size)
        finally:
            web.stop()
            model.stop()
        (folder / "scale").mkdir()
        results["dashboard_scale"] = dashboard_scale(folder / "scale", 100, large, 15 if args.quick else 30)
    (OUT / "web.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    e2e, up, scale = results["end_to_end"], results["upload_1gb"], results["dashboard_scale"]
    verdict = lambda ok: "PASS" if ok else "FAIL"
    print("\n## Web app benchmark\n")
    print("| measure | figure | goal | verdict |\n|---|---|---|---|")
    print(f"| end to end / model server, 30 s clip (median of runs) | {e2e['end_to_end_median_s']} s / "
          f"{e2e['model_server_median_s']} s = {e2e['ratio']} | <= 1.10 | {verdict(e2e['pass'])} |")
    for label in ("dashboard", "search", "filtered"):
        row = scale[label]
        times = [v for k, v in row.items() if k.endswith("_jobs_ms")]
        print(f"| {label} server time, 100 vs many jobs | {times[0]} ms vs {times[1]} ms = "
              f"{row['ratio']} | <= 2 | {verdict(row['pass'])} |")
    print(f"| web process RSS growth during a {up['upload_bytes'] / 1024**3:.2f} GiB upload | "
          f"{up['rss_growth_mb']} MB (status {up['status']}, {up['seconds']} s) | <= 64 MB | "
          f"{verdict(up['pass'])} |")


if __name__ == "__main__":
    sys.exit(main())
