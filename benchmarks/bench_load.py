"""Load benchmark (`make bench`): 200 short clips submitted through the API by 10 concurrent
clients against the app as `make run` starts it. Every job must reach a terminal state,
none lost or duplicated; the dashboard's p95 under load must stay within 3 times its idle
p95. Prints its figures and writes benchmarks/out/load.json."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from devtools.servers import free_port, start_web_app  # noqa: E402

OUT = REPO / "benchmarks" / "out"
PASSWORD = "load-password-42"
SETUP = ("from django.contrib.auth import get_user_model; from transcripts.services.tokens import token_create; "
         f"u = get_user_model().objects.create_user('loader', password='{PASSWORD}'); "
         "print(token_create(owner=u, name='load')[1])")


def wait_for_model(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError("the model server did not come up")


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def dashboard_session(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/")
    session.post(f"{base}/accounts/login/", data={
        "username": "loader", "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    return session


def sample_dashboard(base: str, stop, out) -> None:
    """A person reloading the dashboard every 250 ms until `stop`; puts the response times
    on `out`. Runs in a process of its own, as a person's browser would: the submitting
    threads' GIL in this process must not be counted as the server's slowness."""
    session = dashboard_session(base)
    samples = []
    while not stop.is_set():
        started = time.perf_counter()
        response = session.get(f"{base}/", timeout=30)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
        time.sleep(0.25)
    out.put(samples)


class DashboardSampler:
    def __init__(self, base: str):
        context = multiprocessing.get_context("spawn")
        self._stop, self._out = context.Event(), context.Queue()
        self._process = context.Process(target=sample_dashboard, args=(base, self._stop, self._out))
        self._process.start()

    def stop(self) -> list[float]:
        self._stop.set()
        samples = self._out.get(timeout=60)
        self._process.join()
        return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        clip = folder / "clip.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(clip),
                        "Please send the report to John by Friday."], check=True)
        # As `make run` starts it: the web app with its dispatcher, and the model server it
        # starts itself; the model server's readiness is waited for before the clock starts.
        model_url = f"http://127.0.0.1:{free_port()}"
        web = start_web_app(folder, model_url, own_model_server=True, UPLOADS_PER_HOUR="100000",
                            WHISPER_CPU_THREADS="2")
        try:
            wait_for_model(model_url)
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            key = subprocess.run([sys.executable, "manage.py", "shell", "-c", SETUP], cwd=REPO,
                                 env={**env, "VAR_DIR": str(folder)}, capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()[-1]
            sampler = DashboardSampler(web.url)
            time.sleep(8)
            idle = sampler.stop()

            sampler = DashboardSampler(web.url)
            started = time.perf_counter()
            payload = clip.read_bytes()

            def submit(i: int) -> str:
                response = requests.post(f"{web.url}/api/v1/jobs/", timeout=120,
                                         headers={"Authorization": f"Bearer {key}"},
                                         files={"file": (f"clip-{i}.wav", payload, "audio/wav")})
                response.raise_for_status()
                return response.json()["public_id"]

            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                ids = list(pool.map(submit, range(args.jobs)))
            submitted = time.perf_counter() - started
            db = sqlite3.connect(folder / "db.sqlite3")
            while True:
                (waiting,) = db.execute("SELECT count(*) FROM transcripts_job WHERE status NOT IN "
                                        "('completed', 'failed', 'expired', 'cancelled')").fetchone()
                if waiting == 0 or time.perf_counter() - started > 3600:
                    break
                time.sleep(1)
            finished = time.perf_counter() - started
            loaded = sampler.stop()
            rows = dict(db.execute("SELECT status, count(*) FROM transcripts_job GROUP BY status").fetchall())
            (jobs,) = db.execute("SELECT count(*) FROM transcripts_job").fetchone()
            (distinct,) = db.execute("SELECT count(DISTINCT public_id) FROM transcripts_job").fetchone()
            (outcomes,) = db.execute("SELECT count(*) FROM transcripts_transcriptversion").fetchone()
            (max_attempts,) = db.execute("SELECT max(attempts) FROM transcripts_job").fetchone()
        finally:
            web.stop()

    results = {
        "jobs_submitted": len(ids), "unique_ids": len(set(ids)), "jobs_in_database": jobs,
        "distinct_jobs": distinct, "by_status": rows, "transcripts_recorded": outcomes,
        "max_attempts": max_attempts, "submit_seconds": round(submitted, 1),
        "all_done_seconds": round(finished, 1),
        "dashboard_idle_p95_ms": round(p95(idle) * 1000, 1),
        "dashboard_load_p95_ms": round(p95(loaded) * 1000, 1),
        "dashboard_load_median_ms": round(statistics.median(loaded) * 1000, 1),
        "dashboard_samples_under_load": len(loaded),
    }
    results["p95_ratio"] = round(results["dashboard_load_p95_ms"] / results["dashboard_idle_p95_ms"], 2)
    results["pass"] = (jobs == distinct == args.jobs and rows.get("completed", 0) == args.jobs
                       and outcomes == args.jobs and results["p95_ratio"] <= 3)
    (OUT / "load.json").write_text(json.dumps(results, indent=2))
    print("\n## Load benchmark\n")
    print("| measure | figure | goal | verdict |\n|---|---|---|---|")
    print(f"| jobs submitted by {args.clients} clients / in the database / completed / transcripts | "
          f"{len(ids)} / {jobs} / {rows.get('completed', 0)} / {outcomes} | all {args.jobs}, none lost or "
          f"twice | {'PASS' if jobs == distinct == rows.get('completed', 0) == outcomes == args.jobs else 'FAIL'} |")
    print(f"| time to submit all / to finish all | {results['submit_seconds']} s / "
          f"{results['all_done_seconds']} s | | |")
    print(f"| dashboard p95 idle vs under load | {results['dashboard_idle_p95_ms']} ms vs "
          f"{results['dashboard_load_p95_ms']} ms = {results['p95_ratio']} | <= 3 | "
          f"{'PASS' if results['p95_ratio'] <= 3 else 'FAIL'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
