"""The local backend against the real model server: real tiny.en on real speech."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from devtools.servers import CONTAINER, free_port
from tests.conftest import words
from tests.transcripts.conftest import upload
from transcripts import services
from transcripts.backends.invocation import custom_attributes
from transcripts.models import Job
from transcripts.workers.dispatcher import MAX_ATTEMPTS, Dispatcher

pytestmark = pytest.mark.django_db(transaction=True)



def test_upload_to_completed_transcript_with_the_spoken_words(client, alice, report_wav, model_server):
    job = upload(client, alice, report_wav, word_timestamps="on")
    assert Dispatcher(container_url=model_server.url).step() is True
    job.refresh_from_db()
    assert job.status == "completed", job.failure_reason
    assert {"report", "john", "friday"} <= set(words(job.transcript_text))
    assert job.language == "en" and 2 < job.duration < 4
    assert job.made_with["engine"] == "faster-whisper" and job.made_with["options"]["word_timestamps"]
    srt = client.get(reverse("job-download", args=[job.public_id, "srt"])).content.decode()
    assert srt.startswith("1\n00:00:00,") and "Friday" in srt
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert "John" in page
    assert Dispatcher(container_url=model_server.url).step() is False  # nothing left


def test_a_model_server_refusal_fails_the_job_with_its_message(client, alice, report_wav, model_server):
    job = upload(client, alice, report_wav, language="fr")  # tiny.en is English-only
    Dispatcher(container_url=model_server.url).step()
    job.refresh_from_db()
    assert job.status == "failed" and "English-only" in job.failure_reason


def test_jobs_wait_while_the_model_server_is_down_then_complete(client, alice, report_wav, model_server):
    job = upload(client, alice, report_wav)
    Dispatcher(container_url=f"http://127.0.0.1:{free_port()}").step()
    job.refresh_from_db()
    assert job.status == "queued" and job.attempts == 0 and job.failure_reason == ""
    assert job.lease_until > timezone.now()  # it waits a little before the next try
    Job.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    Dispatcher(container_url=model_server.url).step()
    job.refresh_from_db()
    assert job.status == "completed" and "friday" in words(job.transcript_text)


class _Failing(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": "CUDA out of memory", "code": "internal_error"}).encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_server_errors_are_retried_a_bounded_number_of_times(client, alice, report_wav):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    job = upload(client, alice, report_wav)
    dispatcher = Dispatcher(container_url=f"http://127.0.0.1:{server.server_port}")
    for _ in range(MAX_ATTEMPTS):
        Job.objects.filter(pk=job.pk).update(lease_until=None)  # skip the back-off wait
        dispatcher.step()
    server.shutdown()
    job.refresh_from_db()
    assert _Failing.calls == MAX_ATTEMPTS
    assert job.status == "failed"
    assert "CUDA out of memory" in job.failure_reason and f"after {MAX_ATTEMPTS} attempts" in job.failure_reason


def test_a_job_interrupted_by_a_restart_completes_exactly_once(client, alice, report_wav, model_server):
    job = upload(client, alice, report_wav)
    # A dispatcher claimed it, then the process was killed: the lease runs out.
    Job.objects.filter(pk=job.pk).update(status="processing", rank=2, attempts=1,
                                         lease_until=timezone.now() - timedelta(seconds=1))
    dispatcher = Dispatcher(container_url=model_server.url)
    assert dispatcher.step() is True
    assert dispatcher.step() is False
    job.refresh_from_db()
    assert job.status == "completed" and job.attempts == 2


def test_a_job_another_dispatcher_holds_is_left_alone(client, alice, report_wav, model_server):
    job = upload(client, alice, report_wav)
    Job.objects.filter(pk=job.pk).update(status="processing", rank=2, attempts=1,
                                         lease_until=timezone.now() + timedelta(seconds=60))
    assert Dispatcher(container_url=model_server.url).step() is False


async def _upload_to_running_dispatcher(client, alice, audio, model_server) -> Job:
    """Uploads while a dispatcher runs and returns the job once it completed (or ~20 s)."""
    dispatcher = Dispatcher(container_url=model_server.url)
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop))
    await asyncio.wait_for(dispatcher.listening.wait(), timeout=30)  # it has joined the group
    job = await sync_to_async(upload)(client, alice, audio)
    for _ in range(200):
        await asyncio.sleep(0.1)
        await sync_to_async(job.refresh_from_db)()
        if job.status == "completed":
            break
    stop.set()
    await asyncio.wait_for(runner, timeout=30)  # it stops on its signal, after the current step
    return job


async def test_the_running_dispatcher_takes_a_job_as_soon_as_it_is_uploaded(
        client, alice, report_wav, model_server, settings):
    settings.DISPATCHER_POLL_SECONDS = 120  # prove the wake-up, not the fallback poll
    job = await _upload_to_running_dispatcher(client, alice, report_wav, model_server)
    assert job.status == "completed", (job.status, job.failure_reason)


async def test_a_step_that_raises_is_retried_at_once_not_after_the_poll_interval(
        client, alice, report_wav, model_server, settings, monkeypatch):
    """The wake-up for a new job can be spent on a step that fails (SQLite answers "database
    table is locked" while another connection reads): the job must not wait for the poll."""
    settings.DISPATCHER_POLL_SECONDS = 120
    claim, failures = services.job_claim_next, []

    def locked_once(**kwargs):
        if not failures and Job.objects.filter(status="queued").exists():  # the wake-up's step
            failures.append(1)
            raise OperationalError("database table is locked: transcripts_job")
        return claim(**kwargs)

    monkeypatch.setattr(services, "job_claim_next", locked_once)
    job = await _upload_to_running_dispatcher(client, alice, report_wav, model_server)
    assert failures and job.status == "completed", (job.status, job.failure_reason)


def test_options_travel_as_sagemaker_custom_attributes():
    assert custom_attributes({"language": "fr", "task": "translate", "word_timestamps": True,
                              "initial_prompt": "Names; Acme, Inc"}) == \
        "language=fr;task=translate;word_timestamps=true;initial_prompt=Names%3B%20Acme%2C%20Inc"
    assert custom_attributes({"language": None, "task": "transcribe", "word_timestamps": False}) == \
        "task=transcribe;word_timestamps=false"


def test_a_model_server_that_dies_on_a_job_fails_it_after_bounded_attempts(client, alice, report_wav):
    """A crash mid-request counts as an attempt (a file that kills the server must not loop
    forever); a server that is simply down does not (see the test above)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def accept_and_die():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(1024)
            connection.close()  # the process "crashed" with the job in hand

    threading.Thread(target=accept_and_die, daemon=True).start()
    job = upload(client, alice, report_wav)
    dispatcher = Dispatcher(container_url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    for _ in range(MAX_ATTEMPTS):
        Job.objects.filter(pk=job.pk).update(lease_until=None)
        dispatcher.step()
    listener.close()
    job.refresh_from_db()
    assert job.status == "failed" and "stopped while transcribing" in job.failure_reason
    assert f"after {MAX_ATTEMPTS} attempts" in job.failure_reason


# ---------------------------------------------------------------- names in any script

NON_LATIN_NAMES = "Nguyễn, 東京; Müller"


def test_options_in_any_script_travel_as_visible_ascii_and_the_model_server_reads_them_back():
    sys.path.insert(0, str(CONTAINER))
    from whisper_server.options import parse_custom_attributes

    header = custom_attributes({"task": "transcribe", "initial_prompt": NON_LATIN_NAMES})
    assert header.isascii() and header.isprintable() and len(header) <= 1024
    assert parse_custom_attributes(header).initial_prompt == NON_LATIN_NAMES
    long_prompt = "東京" * 400  # 7,200 characters once encoded: shortened, whole characters
    shortened = parse_custom_attributes(custom_attributes({"initial_prompt": long_prompt}))
    assert len(custom_attributes({"initial_prompt": long_prompt})) <= 1024
    assert 0 < len(shortened.initial_prompt) < len(long_prompt)
    assert long_prompt.startswith(shortened.initial_prompt)


def test_an_upload_with_non_latin_names_completes(client, alice, report_wav, model_server):
    job = upload(client, alice, report_wav, initial_prompt=NON_LATIN_NAMES)
    assert Dispatcher(container_url=model_server.url).step() is True
    job.refresh_from_db()
    assert job.status == "completed", job.failure_reason
    assert job.made_with["options"]["initial_prompt"] == NON_LATIN_NAMES
    assert "friday" in words(job.transcript_text)


def test_a_step_that_raises_on_a_job_counts_as_an_attempt_and_the_job_fails_with_a_reason(
        client, alice, report_wav, monkeypatch):
    job = upload(client, alice, report_wav)
    dispatcher = Dispatcher(container_url="http://127.0.0.1:9")

    def broken(audio, options, on_progress=None):
        raise UnicodeEncodeError("latin-1", "東京", 0, 1, "ordinal not in range(256)")

    monkeypatch.setattr(dispatcher.model_server, "invoke", broken)
    for _ in range(MAX_ATTEMPTS):
        Job.objects.filter(pk=job.pk).update(lease_until=None)  # skip the back-off wait
        assert dispatcher.step() is True
    job.refresh_from_db()
    assert job.status == "failed" and job.attempts == MAX_ATTEMPTS
    assert "UnicodeEncodeError" in job.failure_reason
    assert f"gave up after {MAX_ATTEMPTS} attempts" in job.failure_reason
    assert dispatcher.step() is False  # nothing is claimed again


def test_a_job_whose_every_attempt_ended_with_the_dispatcher_fails_instead_of_looping(
        client, alice, report_wav, model_server):
    """A dispatcher killed on the job each time (its lease ran out) does not retry forever."""
    job = upload(client, alice, report_wav)
    Job.objects.filter(pk=job.pk).update(status="processing", rank=2, attempts=MAX_ATTEMPTS,
                                         lease_until=timezone.now() - timedelta(seconds=1))
    assert Dispatcher(container_url=model_server.url).step() is True
    job.refresh_from_db()
    assert job.status == "failed" and f"gave up after {MAX_ATTEMPTS} attempts" in job.failure_reason
