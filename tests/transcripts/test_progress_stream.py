"""The local backend's progress: the model server's NDJSON stream (the contract's own
stream.ndjson, served by a stand-in HTTP server) read line by line, its errors sorted as an
ordinary answer's are, and the dispatcher recording each report through the one service."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.transcripts.conftest import make_result, upload
from transcripts import selectors, services
from transcripts.backends.model_server import Interrupted, ModelServer, Refused, ServerError
from transcripts.models import Job, Status
from transcripts.workers.dispatcher import Dispatcher

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "container" / "progress"
STREAM = (CONTRACT / "stream.ndjson").read_text().splitlines()
RUN = json.loads((CONTRACT / "events.json").read_text())["reports"]


class StreamingServer:
    """Answers POST /invocations with `lines`, one chunk each; waits for `release` (when
    set) before the last line, so a test can look at the job mid-way."""

    def __init__(self, lines: list[str], *, cut_before_last: bool = False):
        self.lines, self.cut_before_last = lines, cut_before_last
        self.release: threading.Event | None = None
        self.accepts: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.accepts.append(self.headers.get("Accept", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for number, line in enumerate(owner.lines):
                    if number == len(owner.lines) - 1:
                        if owner.release is not None:
                            owner.release.wait(30)
                        if owner.cut_before_last:  # the server dies: no final chunk
                            self.wfile.flush()
                            self.connection.shutdown(2)
                            return
                    data = (line + "\n").encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorded(monkeypatch):
    """recorded(seconds) → an Event set once the dispatcher has recorded a report of that
    many seconds done: the test waits on it rather than polling a database that the
    dispatcher's thread writes to (SQLite's shared in-memory test database locks)."""
    def watch(seconds: float) -> threading.Event:
        done = threading.Event()
        original = services.job_record_progress

        def spy(**kwargs):
            changed = original(**kwargs)
            if kwargs["report"].seconds_done == seconds:
                done.set()
            return changed
        monkeypatch.setattr(services, "job_record_progress", spy)
        return done
    return watch


@pytest.fixture
def serve():
    servers = []

    def start(lines, **kwargs):
        servers.append(StreamingServer(lines, **kwargs))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def test_the_stream_gives_each_report_in_order_then_the_result(serve):
    server = serve(STREAM)
    reports = []
    result = ModelServer(server.url, timeout_seconds=30).invoke(b"audio", {}, on_progress=reports.append)
    assert server.accepts == ["application/x-ndjson"]
    assert result["schema_version"] == "1.0" and result["duration"] == 250.0
    assert [r.seconds_done for r in reports] == [step["report"]["seconds_done"] for step in RUN]
    assert [r.stage for r in reports][:2] == ["waiting", "transcribing"]
    assert reports[5].segments_from == 112.0 and reports[5].segments[0]["text"].startswith("Ask not")


def test_without_a_callback_no_stream_is_asked_for(serve):
    server = serve([json.dumps(make_result("hi"))])  # whatever comes back is read whole
    ModelServer(server.url, timeout_seconds=30).invoke(b"audio", {})
    assert server.accepts == ["*/*"]


@pytest.mark.parametrize(("status", "error"), [(400, Refused), (422, Refused), (500, ServerError)])
def test_an_error_at_the_end_of_the_stream_is_sorted_like_an_ordinary_answer(serve, status, error):
    line = json.dumps({"event": "error", "status": status, "error": "the audio stops after 2 s",
                       "code": "bad_audio"})
    server = serve([*STREAM[:3], line])
    reports = []
    with pytest.raises(error, match="the audio stops after 2 s"):
        ModelServer(server.url, timeout_seconds=30).invoke(b"audio", {}, on_progress=reports.append)
    assert len(reports) == 3


def test_a_connection_broken_mid_stream_is_an_interruption(serve):
    server = serve(STREAM, cut_before_last=True)
    reports = []
    with pytest.raises(Interrupted):
        ModelServer(server.url, timeout_seconds=30).invoke(b"audio", {}, on_progress=reports.append)
    assert len(reports) == len(RUN)


def test_a_bad_report_or_a_failing_callback_never_stops_the_transcription(serve):
    server = serve([STREAM[0], "not json", json.dumps({"event": "progress", "stage": 7}), *STREAM[1:]])
    seen = []

    def flaky(report):
        seen.append(report)
        if len(seen) == 2:
            raise RuntimeError("the database is locked")
    result = ModelServer(server.url, timeout_seconds=30).invoke(b"audio", {}, on_progress=flaky)
    assert result["duration"] == 250.0 and len(seen) == len(RUN)


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_records_the_progress_and_the_result_replaces_it(serve, recorded, client, alice,
                                                                      report_wav):
    result = make_result("And so my fellow Americans.")
    server = serve([*STREAM[:-1], json.dumps({"event": "result", "result": result})])
    server.release = threading.Event()
    job = upload(client, alice, report_wav)
    last_report = recorded(250.0)
    worker = threading.Thread(target=Dispatcher(container_url=server.url).step)
    worker.start()
    try:
        assert last_report.wait(30), "the reports were not recorded"
        running = Job.objects.get(pk=job.pk)
        progress = selectors.job_progress(running)
        assert running.status == Status.PROCESSING and progress["stage"] == "transcribing"
        assert progress["fraction"] == 1.0 and progress["duration"] == 250.0
        assert [s["text"] for s in selectors.partial_segments(running)] == RUN[-1]["partial_after"]
    finally:
        server.release.set()
        worker.join(30)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED and job.transcript_text == "And so my fellow Americans."
    assert selectors.partial_segments(job) is None and selectors.job_progress(job) is None


@pytest.mark.django_db(transaction=True)
def test_a_run_broken_mid_way_keeps_its_progress_on_show_until_the_next_run_passes_it(
        serve, recorded, client, alice, report_wav):
    job = upload(client, alice, report_wav)
    broken = serve(STREAM[:6] + [STREAM[-1]], cut_before_last=True)  # 140 s, then the server dies
    Dispatcher(container_url=broken.url).step()
    first = Job.objects.get(pk=job.pk)
    progress = selectors.job_progress(first)
    assert first.status == Status.QUEUED and progress["seconds_done"] == 140.0
    assert progress["note"].startswith("Starting again from the beginning: the model server stopped")
    assert [s["text"] for s in selectors.partial_segments(first)] == RUN[5]["partial_after"]

    result = make_result("And so my fellow Americans.")
    again = serve([*STREAM[:4], json.dumps({"event": "result", "result": result})])  # up to 58 s
    again.release = threading.Event()
    Job.objects.filter(pk=job.pk).update(lease_until=None)  # skip the back-off wait
    new_runs_last = recorded(58.0)
    worker = threading.Thread(target=Dispatcher(container_url=again.url).step)
    worker.start()
    try:
        assert new_runs_last.wait(30), "the new run's reports were not recorded"
        running = Job.objects.get(pk=job.pk)
        progress = selectors.job_progress(running)
        assert running.status == Status.PROCESSING and progress["seconds_done"] == 140.0  # not back
        assert progress["note"].startswith("Starting again from the beginning")
        assert [s["text"] for s in selectors.partial_segments(running)] == RUN[5]["partial_after"]
    finally:
        again.release.set()
        worker.join(30)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED and selectors.job_progress(job) is None
