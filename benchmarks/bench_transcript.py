"""Transcript experience benchmark (`make bench`): prints its figures and writes
benchmarks/out/transcript.json.

1. The transcript page of a two-hour recording against a five-minute one: server time and
   the time until the page is interactive in Chromium. Goal: at most 3 times.
2. Search over 10,000 transcripts against 100. Goal: at most 2 times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OUT = REPO / "benchmarks" / "out"
PASSWORD = "bench-password-42"
VOCABULARY = ("budget meeting report quarterly customer invoice design review launch schedule "
              "hiring roadmap release support contract travel training please send the to by "
              "on for with and we our team next week plan numbers").split()


def setup_django(folder: Path):
    os.environ.update(VAR_DIR=str(folder), DJANGO_SETTINGS_MODULE="webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)


def transcript(seconds: float, rng: random.Random) -> dict:
    """A model result with a segment every 5 s and word timestamps."""
    segments, t, index = [], 0.0, 0
    while t < seconds:
        words, w = [], t
        for _ in range(12):
            words.append({"word": " " + rng.choice(VOCABULARY), "start": round(w, 2),
                          "end": round(w + 0.35, 2), "probability": 0.9})
            w += 0.4
        text = "".join(x["word"] for x in words).strip()
        segments.append({"id": index, "start": round(t, 2), "end": round(t + 4.8, 2), "text": text,
                         "avg_logprob": -0.2, "no_speech_prob": 0.01, "compression_ratio": 1.3,
                         "words": words})
        t += 5.0
        index += 1
    return {"schema_version": "1.0", "text": " ".join(s["text"] for s in segments), "language": "en",
            "language_probability": 1.0, "duration": seconds, "segments": segments,
            "options": {"task": "transcribe", "word_timestamps": True},
            "model": {"engine": "faster-whisper", "model": "tiny.en", "device": "cpu",
                      "compute_type": "int8", "multilingual": False}, "timings": {}, "warnings": []}


def completed_job(owner, name: str, result: dict):
    from django.core.files.base import ContentFile

    from transcripts import services
    from transcripts.models import Job
    from transcripts.services import Outcome

    job = Job(owner=owner, original_name=name, options={"word_timestamps": True})
    job.audio.save("upload", ContentFile(b"RIFF"), save=False)
    job.save()
    output = services.job_store_output(job=job, result=result)
    services.job_record_outcome(job_pk=job.pk, outcome=Outcome.completed(result=result, output_name=output))
    return job


def server_time(client, url: str, repeats: int, params=None) -> float:
    client.get(url, params or {})
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url, params or {})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def interactive_time(base_url: str, username: str, url: str, repeats: int) -> float:
    """Milliseconds from navigation start until transcript.js has wired the page up
    (it marks #segments with data-ready), median of `repeats` loads in Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.goto(f"{base_url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        samples = []
        for _ in range(repeats + 1):
            page.goto(base_url + url, wait_until="commit")
            page.wait_for_selector("#segments[data-ready='1']", state="attached", timeout=60000)
            samples.append(page.evaluate("performance.getEntriesByName('transcript-ready')[0].startTime"))
        browser.close()
    return statistics.median(samples[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    many = 1_000 if args.quick else 10_000
    repeats = 5 if args.quick else 15
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-transcript-") as tmp:
        folder = Path(tmp)
        setup_django(folder)
        from django.contrib.auth import get_user_model
        from django.test import Client

        from devtools.servers import start_web_app
        from transcripts.models import Job, TranscriptVersion

        rng = random.Random(3)
        reader = get_user_model().objects.create_user("reader", password=PASSWORD)
        short = completed_job(reader, "five-minutes.wav", transcript(300, rng))
        long = completed_job(reader, "two-hours.wav", transcript(7200, rng))

        # Search: one person with 100 transcripts, another with `many`.
        def library(name: str, count: int):
            user = get_user_model().objects.create_user(name, password=PASSWORD)
            jobs = [Job(owner=user, original_name=f"{name}-{i}.wav", audio=f"inputs/{name}/{i}",
                        status="completed", rank=3,
                        transcript_text=" ".join(rng.choice(VOCABULARY) for _ in range(300)))
                    for i in range(count)]
            Job.objects.bulk_create(jobs, batch_size=2000)
            TranscriptVersion.objects.bulk_create(
                [TranscriptVersion(job=j, number=0, segments=[
                    {"id": 0, "start": 0.0, "end": 5.0, "text": j.transcript_text[:200]},
                    {"id": 1, "start": 5.0, "end": 10.0, "text": j.transcript_text[200:]}])
                 for j in Job.objects.filter(owner=user)], batch_size=2000)
            return user
        few_user, many_user = library("few", 100), library("many", many)

        client = Client()
        client.force_login(reader)
        page_short = server_time(client, f"/jobs/{short.public_id}/", repeats)
        page_long = server_time(client, f"/jobs/{long.public_id}/", repeats)
        search = {}
        for label, user in (("few", few_user), ("many", many_user)):
            client.force_login(user)
            search[label] = server_time(client, "/search/", repeats, {"q": "invoice roadmap"})

        (folder / "web").mkdir()
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
        web = start_web_app(folder, "http://127.0.0.1:9", SQLITE_PATH=str(folder / "db.sqlite3"))
        try:
            tti_short = interactive_time(web.url, "reader", f"/jobs/{short.public_id}/", 5)
            tti_long = interactive_time(web.url, "reader", f"/jobs/{long.public_id}/", 5)
        finally:
            web.stop()

    results = {
        "page_server_ms": {"5_min": round(page_short * 1000, 1), "2_hours": round(page_long * 1000, 1),
                           "ratio": round(page_long / page_short, 2), "goal": "<= 3"},
        "page_interactive_ms": {"5_min": round(tti_short, 1), "2_hours": round(tti_long, 1),
                                "ratio": round(tti_long / tti_short, 2), "goal": "<= 3"},
        "search_server_ms": {"100": round(search["few"] * 1000, 1), str(many): round(search["many"] * 1000, 1),
                             "ratio": round(search["many"] / search["few"], 2), "goal": "<= 2"},
    }
    (OUT / "transcript.json").write_text(json.dumps(results, indent=2))
    verdict = lambda ratio, goal: "PASS" if ratio <= goal else "FAIL"
    print("\n## Transcript experience benchmark\n")
    print("| measure | figure | goal | verdict |\n|---|---|---|---|")
    p, t, s = results["page_server_ms"], results["page_interactive_ms"], results["search_server_ms"]
    print(f"| transcript page server time, 5 min vs 2 h | {p['5_min']} ms vs {p['2_hours']} ms = "
          f"{p['ratio']} | <= 3 | {verdict(p['ratio'], 3)} |")
    print(f"| time until the page is interactive (Chromium), 5 min vs 2 h | {t['5_min']} ms vs "
          f"{t['2_hours']} ms = {t['ratio']} | <= 3 | {verdict(t['ratio'], 3)} |")
    print(f"| search server time, 100 vs {many} transcripts | {s['100']} ms vs {s[str(many)]} ms = "
          f"{s['ratio']} | <= 2 | {verdict(s['ratio'], 2)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
