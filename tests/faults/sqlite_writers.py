"""Run as a script (see test_sqlite_writers.py): many threads writing to one SQLite file
at once through the app's services, as the web process and its dispatcher do. Prints a
JSON summary of what happened."""

import json
import os
import sys
import threading
import time
import traceback

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from transcripts import services  # noqa: E402
from transcripts.models import Job, TranscriptVersion  # noqa: E402
from transcripts.services import Outcome  # noqa: E402

CREATORS, WORKERS, PER_CREATOR = 4, 4, 25
RESULT = {"schema_version": "1.0", "text": "hello", "language": "en", "duration": 1.0,
          "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": "hello"}],
          "options": {}, "model": {"engine": "faster-whisper"}}

call_command("migrate", verbosity=0)
owner = get_user_model().objects.create_user("writer", password="x-long-pass-1")
errors, processed = [], []
created_all = threading.Event()


def guarded(work):
    def run():
        try:
            work()
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            connection.close()
    return run


def create():
    for i in range(PER_CREATOR):
        upload = ContentFile(b"RIFF....WAVE", name="a.wav")
        services.job_create(owner=owner, upload=upload, original_name=f"{i}.wav", options={})


def work():
    while True:
        job = services.job_claim_next(lease_seconds=60)
        if job is None:
            if created_all.is_set() and not Job.objects.filter(status="queued").exists():
                return
            time.sleep(0.01)
            continue
        name = services.job_store_output(job=job, result=RESULT)
        if services.job_record_outcome(job_pk=job.pk, outcome=Outcome.completed(result=RESULT, output_name=name)):
            processed.append(job.pk)
        # A duplicate outcome, as a second dispatcher or SNS would send: must change nothing.
        services.job_record_outcome(job_pk=job.pk, outcome=Outcome.failed("late"))


creators = [threading.Thread(target=guarded(create)) for _ in range(CREATORS)]
workers = [threading.Thread(target=guarded(work)) for _ in range(WORKERS)]
for thread in creators + workers:
    thread.start()
for thread in creators:
    thread.join()
created_all.set()
for thread in workers:
    thread.join()
print(json.dumps({
    "errors": errors, "jobs": Job.objects.count(), "completed": Job.objects.filter(status="completed").count(),
    "processed": len(processed), "distinct_processed": len(set(processed)),
    "versions": TranscriptVersion.objects.count(),
}))
