"""Progress reports while the model server transcribes (contracts/container/progress): the
NDJSON stream a request asks for with `Accept: application/x-ndjson`, the job's DynamoDB
item with PROGRESS_TABLE (moto), and that neither changes or endangers the transcription."""

from __future__ import annotations

import dataclasses
import difflib
import json
import threading
import time
import uuid

import boto3
import jsonschema
import pytest
import requests

from devtools.servers import start_server
from tests.conftest import REPO, SENTENCES, ffmpeg, speak, words
from whisper_server.engines import load_engine
from whisper_server.options import TranscribeOptions, custom_attribute_job_id, parse_custom_attributes
from whisper_server.progress import DynamoDBSink, Progress, Sink, apply_report
from whisper_server.settings import Settings, SettingsError
from whisper_server.transcriber import transcribe_file

CONTRACT = REPO / "contracts" / "container"
EVENT_SCHEMA = json.loads((CONTRACT / "progress" / "event.schema.json").read_text())
RESPONSE_SCHEMA = json.loads((CONTRACT / "response.schema.json").read_text())
ERROR_SCHEMA = json.loads((CONTRACT / "error.schema.json").read_text())
NDJSON = "application/x-ndjson"
TABLE = "jobs-progress"
JOB_ID = "6f1c2b1e-7d1a-4a53-9d0e-2f3a0d8e4b11"
REGION = "us-east-1"


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def long_speech(speech_dir, report_wav, window_wav):
    """About 100 s of real (espeak-ng) speech: 21 sentences with pauses between them."""
    morning = speak(SENTENCES["morning"], speech_dir / "morning.wav")
    parts = [report_wav, window_wav, morning] * 7
    inputs, filters = [], []
    for i, part in enumerate(parts):
        inputs += ["-i", str(part)]
        filters.append(f"[{i}:a]aformat=sample_rates=16000:channel_layouts=mono,apad=pad_dur=2.0[a{i}]")
    chain = "".join(f"[a{i}]" for i in range(len(parts)))
    target = speech_dir / "progress-long.ogg"
    ffmpeg(*inputs, "-filter_complex", ";".join(filters) + f";{chain}concat=n={len(parts)}:v=0:a=1[out]",
           "-map", "[out]", "-c:a", "libopus", "-b:a", "24k", str(target))
    return target


@pytest.fixture(scope="module")
def progress_server(tmp_path_factory, s3):
    """The model server with 30 s windows (several windows in the long recording) and
    PROGRESS_TABLE, writing to DynamoDB as moto's server plays it."""
    _, env = s3
    endpoint = env["S3_ENDPOINT_URL"]
    dynamodb = boto3.resource("dynamodb", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    if TABLE not in [t.name for t in dynamodb.tables.all()]:
        dynamodb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
    server = start_server(tmp_path_factory.mktemp("serve-progress"), WHISPER_WINDOW_SECONDS="30",
                          GUNICORN_THREADS="6", PROGRESS_TABLE=TABLE, PROGRESS_MIN_INTERVAL="0",
                          AWS_ENDPOINT_URL_DYNAMODB=endpoint, **env)
    server.table = dynamodb.Table(TABLE)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def engine_settings():
    settings = dataclasses.replace(Settings.from_env({}), cpu_threads=2, window_seconds=30)
    return load_engine(settings), settings


@dataclasses.dataclass
class Streamed:
    response: requests.Response
    events: list[tuple[float, dict]]  # (seconds since the request, event)
    total: float

    @property
    def reports(self) -> list[dict]:
        return [{k: v for k, v in e.items() if k != "event"} for _, e in self.events if e["event"] == "progress"]

    @property
    def last(self) -> dict:
        return self.events[-1][1]


def streamed(server, audio, *, attributes: str | None = "temperature=0", until=None) -> Streamed:
    """POST with `Accept: application/x-ndjson`; `until(event)` true: stop reading there
    and close the connection (the client goes away)."""
    headers = {"Content-Type": "application/octet-stream", "Accept": NDJSON}
    if attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
    started = time.perf_counter()
    events = []
    with requests.post(f"{server.url}/invocations", data=audio.read_bytes() if hasattr(audio, "read_bytes") else audio,
                       headers=headers, stream=True, timeout=300) as response:
        if response.headers.get("Content-Type", "").startswith(NDJSON):
            for line in response.iter_lines():
                if line:
                    events.append((time.perf_counter() - started, json.loads(line)))
                    if until is not None and until(events[-1][1]):
                        break
        else:
            _ = response.content  # an ordinary answer, read before the connection closes
    return Streamed(response, events, time.perf_counter() - started)


def without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "timings"}


def partial_transcript(reports) -> list[dict]:
    partial: list[dict] = []
    for report in reports:
        partial = apply_report(partial, report)
    return partial


def similarity(a: list[str], b: list[str]) -> float:
    return difflib.SequenceMatcher(a=a, b=b, autojunk=False).ratio()


def assert_forward_only(reports: list[dict]) -> None:
    done = [r["seconds_done"] for r in reports]
    assert done == sorted(done), done
    starts = [r["segments_from"] for r in reports if r["segments_from"] is not None]
    assert starts == sorted(starts), starts


# ---------------------------------------------------------------- the stream

def test_a_streamed_request_reports_progress_then_the_result_a_plain_request_gets(progress_server,
                                                                                  long_speech):
    plain = progress_server.invoke(long_speech, attributes="temperature=0")
    assert plain.status_code == 200, plain.text
    run = streamed(progress_server, long_speech)
    assert run.response.status_code == 200
    assert run.response.headers["Content-Type"] == NDJSON
    assert [e["event"] for _, e in run.events[:-1]] == ["progress"] * (len(run.events) - 1)
    assert run.last["event"] == "result"
    result = run.last["result"]
    jsonschema.validate(result, RESPONSE_SCHEMA)
    assert without_timings(result) == without_timings(plain.json())  # the same transcription

    reports = run.reports
    for report in reports:
        jsonschema.validate(report, EVENT_SCHEMA)
    assert reports[0]["stage"] == "transcribing" and reports[0]["seconds_done"] == 0
    assert all(r["duration"] == pytest.approx(result["duration"], abs=0.1) for r in reports)
    assert_forward_only(reports)
    # Several windows (30 s each), each reported as Whisper makes its segments and again
    # once stitched; never more than 30 s of audio without a report.
    assert len({r["segments_from"] for r in reports if r["segments_from"] is not None}) >= 3
    assert len(reports) >= 10
    done = [0.0] + [r["seconds_done"] for r in reports]
    assert max(b - a for a, b in zip(done, done[1:])) <= 30.0
    assert done[-1] == pytest.approx(result["duration"], abs=0.5)
    # The first words arrive early, not with the result.
    first_words = next(at for at, e in run.events if e.get("segments"))
    assert first_words < 0.6 * run.total, (first_words, run.total)

    # Applied in order, the reports build the transcript that the result then replaces.
    partial = partial_transcript(reports)
    starts = [s["start"] for s in partial]
    assert starts == sorted(starts)
    said = words(" ".join(s["text"] for s in partial))
    assert similarity(said, words(result["text"])) >= 0.95, (said, result["text"])
    assert said.count("friday") == words(result["text"]).count("friday") == 7


def test_a_request_without_the_stream_header_is_answered_as_before(progress_server, report_wav):
    for accept in (None, "application/json", "*/*", "application/json, */*;q=0.8"):
        headers = {"Content-Type": "application/octet-stream"}
        if accept:
            headers["Accept"] = accept
        response = requests.post(f"{progress_server.url}/invocations", data=report_wav.read_bytes(),
                                 headers=headers, timeout=300)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "application/json"
        assert int(response.headers["Content-Length"]) == len(response.content)
        result = response.json()
        jsonschema.validate(result, RESPONSE_SCHEMA)
        assert "event" not in result and {"report", "john", "friday"} <= set(words(result["text"]))


def test_a_request_that_names_its_job_is_answered_as_before_where_no_table_is_set(server, report_wav):
    """The AWS backend sends `job_id` with the options; without PROGRESS_TABLE it changes nothing."""
    named = server.invoke(report_wav, attributes=f"job_id={JOB_ID};temperature=0")
    plain = server.invoke(report_wav, attributes="temperature=0")
    assert named.status_code == 200, named.text
    assert int(named.headers["Content-Length"]) == len(named.content)
    assert without_timings(named.json()) == without_timings(plain.json())
    bad = server.invoke(report_wav, attributes="job_id=../../etc")
    assert bad.status_code == 400 and "job_id" in bad.json()["error"]


def test_errors_in_a_stream_carry_the_status_a_plain_request_gets(progress_server, tmp_path):
    not_audio = b"this is not audio at all " * 200
    plain = progress_server.invoke(not_audio)
    run = streamed(progress_server, not_audio)
    assert plain.status_code == 422
    assert run.response.status_code == 200
    [(_, error)] = [(at, e) for at, e in run.events if e["event"] != "progress"]
    assert run.last is error and error["event"] == "error"
    assert error["status"] == 422
    assert {k: v for k, v in error.items() if k not in ("event", "status")} == plain.json()
    jsonschema.validate({k: v for k, v in error.items() if k not in ("event", "status")}, ERROR_SCHEMA)

    # What is wrong with the request itself is answered before any stream starts.
    refused = streamed(progress_server, not_audio, attributes="beam_size=99")
    assert refused.response.status_code == 400
    assert refused.response.headers["Content-Type"] == "application/json"
    assert "beam_size" in refused.response.json()["error"]


def test_a_request_that_waits_for_its_turn_reports_waiting(progress_server, long_speech, report_wav):
    first: dict = {}
    holding = threading.Event()

    def long_job():
        first["run"] = streamed(progress_server, long_speech, until=lambda e: holding.set() or False)

    thread = threading.Thread(target=long_job)
    thread.start()
    assert holding.wait(60)  # the long job has its turn
    second = streamed(progress_server, report_wav)
    thread.join(120)
    stages = [r["stage"] for r in second.reports]
    assert stages[0] == "waiting" and "transcribing" in stages
    assert stages.index("transcribing") > stages.index("waiting")
    assert second.last["event"] == "result"
    assert {"report", "john", "friday"} <= set(words(second.last["result"]["text"]))
    assert first["run"].last["event"] == "result"


def test_a_client_that_goes_away_abandons_its_transcription(progress_server, long_speech, report_wav):
    run = streamed(progress_server, long_speech, until=lambda e: bool(e.get("segments")))
    assert run.last["event"] == "progress"  # gone after the first words
    deadline = time.monotonic() + 60
    while "transcription abandoned" not in progress_server.log_tail(20000):
        assert time.monotonic() < deadline, progress_server.log_tail()
        time.sleep(0.2)
    after = progress_server.invoke(report_wav)  # the turn is free again
    assert after.status_code == 200


# ---------------------------------------------------------------- the job's DynamoDB item

def test_the_jobs_item_shows_progress_while_the_endpoint_transcribes(progress_server, long_speech):
    """As on SageMaker: a plain request that names its job; the item gets the progress and
    the partial transcript while it runs, and the answer is unchanged."""
    job_id = "job-while-it-runs"
    progress_server.table.put_item(Item={"job_id": job_id, "status": "submitted", "rank": 1})
    answer: dict = {}
    thread = threading.Thread(target=lambda: answer.update(
        response=progress_server.invoke(long_speech, attributes=f"job_id={job_id};temperature=0")))
    thread.start()
    seen = []
    while thread.is_alive():
        progress = progress_server.table.get_item(Key={"job_id": job_id})["Item"].get("progress")
        if progress:
            seen.append(float(progress["seconds_done"]))
        time.sleep(0.1)
    thread.join()
    response = answer["response"]
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    result = response.json()
    assert "job_id" not in result  # echoed from JSON requests only, as before
    assert any(0 < s < result["duration"] - 10 for s in seen), seen  # seen part way
    assert seen == sorted(seen)

    deadline = time.monotonic() + 20  # the last report is written after the answer
    while True:
        item = progress_server.table.get_item(Key={"job_id": job_id})["Item"]
        if float(item["progress"]["seconds_done"]) >= result["duration"] - 0.5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert item["status"] == "submitted" and item["rank"] == 1  # not the container's to write
    assert item["progress"]["stage"] == "transcribing"
    assert float(item["progress"]["seconds_done"]) == pytest.approx(result["duration"], abs=0.5)
    assert float(item["progress"]["duration"]) == pytest.approx(result["duration"], abs=0.1)
    partial = json.loads(item["partial_segments"])
    assert similarity(words(" ".join(s["text"] for s in partial)), words(result["text"])) >= 0.95


def test_progress_never_lands_on_a_finished_or_missing_job(progress_server, report_wav):
    progress_server.table.put_item(Item={"job_id": "job-done", "status": "completed", "rank": 3,
                                         "output_location": "s3://b/outputs/x.out"})
    for job_id in ("job-done", "job-nowhere"):
        response = progress_server.invoke(report_wav, attributes=f"job_id={job_id}")
        assert response.status_code == 200  # the transcription does not care
    time.sleep(1.5)  # the writes that would have come
    assert progress_server.table.get_item(Key={"job_id": "job-done"})["Item"] == {
        "job_id": "job-done", "status": "completed", "rank": 3, "output_location": "s3://b/outputs/x.out"}
    assert "Item" not in progress_server.table.get_item(Key={"job_id": "job-nowhere"})
    assert "not written" in progress_server.log_tail(20000)


@pytest.fixture
def jobs_table(s3):
    """A jobs table of its own in moto's server (moto's in-process mock would reset the
    server's state, which the session's other tests share)."""
    _, env = s3
    dynamodb = boto3.resource("dynamodb", endpoint_url=env["S3_ENDPOINT_URL"], region_name=REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    table = dynamodb.create_table(
        TableName=f"jobs-{uuid.uuid4().hex[:12]}", KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    yield table
    table.delete()


def sink(table, job_id=JOB_ID, **kwargs) -> DynamoDBSink:
    return DynamoDBSink(lambda: table, job_id, **{"min_interval": 0, **kwargs})


def report(seconds_done, segments_from=None, segments=(), stage="transcribing", duration=250.0) -> dict:
    return {"stage": stage, "seconds_done": seconds_done, "duration": duration,
            "segments_from": segments_from, "segments": list(segments)}


def test_the_fixture_reports_give_the_fixture_item(jobs_table):
    documented = json.loads((CONTRACT / "progress" / "dynamodb-item.json").read_text())["item"]
    reports = json.loads((CONTRACT / "progress" / "events.json").read_text())["reports"]
    jobs_table.put_item(Item={k: v for k, v in documented.items()
                              if k not in ("progress", "partial_segments")})
    writer = sink(jobs_table, documented["job_id"])
    for entry in reports[:6]:  # the item mid-way: after the sixth report
        writer.send(entry["report"])
    writer.close()
    item = jobs_table.get_item(Key={"job_id": documented["job_id"]})["Item"]
    progress = item.pop("progress")
    assert progress.pop("updated_at").endswith("Z")
    assert progress == {k: v for k, v in documented["progress"].items() if k != "updated_at"}
    assert json.loads(item.pop("partial_segments")) == json.loads(documented["partial_segments"])
    assert item == {k: v for k, v in documented.items() if k not in ("progress", "partial_segments")}


def test_the_item_never_goes_backwards_nor_changes_after_a_terminal_status(jobs_table):
    jobs_table.put_item(Item={"job_id": JOB_ID, "status": "processing", "rank": 2})
    writer = sink(jobs_table)
    segment = {"id": 0, "start": 0.0, "end": 2.0, "text": "Hello."}
    writer.send(report(100.0, 0.0, [segment]))
    writer.send(report(60.0, 0.0, []))  # an older report (another attempt of the same job)
    item = jobs_table.get_item(Key={"job_id": JOB_ID})["Item"]
    assert item["progress"]["seconds_done"] == 100 and json.loads(item["partial_segments"]) == [segment]
    assert writer.refused == 1

    writer.send(report(120.0))
    jobs_table.update_item(Key={"job_id": JOB_ID}, UpdateExpression="SET #s = :s, #r = :r",
                           ExpressionAttributeNames={"#s": "status", "#r": "rank"},
                           ExpressionAttributeValues={":s": "completed", ":r": 3})
    before = jobs_table.get_item(Key={"job_id": JOB_ID})["Item"]
    writer.send(report(250.0, 0.0, [segment, segment]))  # raises nothing
    writer.close()
    assert jobs_table.get_item(Key={"job_id": JOB_ID})["Item"] == before
    assert writer.refused == 2

    sink(jobs_table, "no-such-job").send(report(10.0))
    assert "Item" not in jobs_table.get_item(Key={"job_id": "no-such-job"})


def test_writes_are_coalesced_and_the_last_report_is_always_written(jobs_table):
    jobs_table.put_item(Item={"job_id": JOB_ID, "status": "submitted"})
    now = [1000.0]
    writer = sink(jobs_table, min_interval=5.0, clock=lambda: now[0])
    for seconds in (0.0, 10.0, 20.0, 30.0):
        writer.send(report(seconds, 0.0, [{"id": 0, "start": 0.0, "end": seconds, "text": f"at {seconds}"}]))
        now[0] += 1.0
    assert writer.writes == 1 and writer.due_in() == pytest.approx(1.0)  # the first only, so far
    now[0] += 1.0
    writer.flush()  # what the sink's thread does once due
    assert writer.writes == 2
    writer.send(report(40.0, 30.0, [{"id": 1, "start": 31.0, "end": 40.0, "text": "last"}]))
    writer.close()  # the last report is written whatever the interval
    item = jobs_table.get_item(Key={"job_id": JOB_ID})["Item"]
    assert writer.writes == 3 and item["progress"]["seconds_done"] == 40
    assert [s["text"] for s in json.loads(item["partial_segments"])] == ["at 30.0", "last"]


def test_a_partial_transcript_too_big_for_the_item_is_left_out_and_marked(jobs_table):
    jobs_table.put_item(Item={"job_id": JOB_ID, "status": "submitted"})
    writer = sink(jobs_table, max_partial_bytes=2000)
    segments = [{"id": i, "start": i * 5.0, "end": i * 5.0 + 4, "text": "word " * 20} for i in range(20)]
    writer.send(report(10.0, 0.0, segments[:2]))
    writer.send(report(100.0, 0.0, segments))
    item = jobs_table.get_item(Key={"job_id": JOB_ID})["Item"]
    assert item["partial_truncated"] is True and item["progress"]["seconds_done"] == 100
    assert json.loads(item["partial_segments"]) == segments[:2]  # the last that fit


# ---------------------------------------------------------------- in this process, real Whisper

class Recording(Sink):
    def __init__(self, delay: float = 0.0):
        self.reports: list[dict] = []
        self.times: list[tuple[float, dict]] = []  # when each report arrived
        self.closed = False
        self.delay = delay

    def send(self, report: dict) -> None:
        self.times.append((time.monotonic(), report))
        time.sleep(self.delay)
        self.reports.append(report)

    def close(self) -> None:
        self.closed = True


class Broken(Sink):
    def send(self, report: dict) -> None:
        raise ConnectionError("the sink is gone")


def test_a_sink_that_fails_or_dawdles_changes_nothing_in_the_transcription(engine_settings, long_speech,
                                                                            caplog):
    engine, settings = engine_settings
    options = TranscribeOptions(temperature=0.0)
    alone = transcribe_file(str(long_speech), options, engine, settings)
    recording, slow = Recording(), Recording(delay=2.0)
    progress = Progress([Broken(), recording, slow])
    result = transcribe_file(str(long_speech), options, engine, settings, progress)
    slow_when_done = len(slow.reports)
    progress.close()
    assert progress.join(5) is False  # the slow one is still at it: nobody waited for it
    assert without_timings(result) == without_timings(alone)
    assert recording.closed and len(recording.reports) >= 10
    assert slow_when_done < len(recording.reports)
    assert "Broken failed (ConnectionError: the sink is gone)" in caplog.text
    assert_forward_only(recording.reports)
    said = words(" ".join(s["text"] for s in partial_transcript(recording.reports)))
    assert similarity(said, words(result["text"])) >= 0.95


def test_batched_decoding_reports_each_batch_as_it_is_decoded(engine_settings, long_speech):
    engine, settings = engine_settings
    recording = Recording()
    progress = Progress([recording])
    result = transcribe_file(str(long_speech), TranscribeOptions(temperature=0.0, batch_size=2),
                             engine, settings, progress)
    progress.close()
    assert progress.join(10)
    assert result["options"]["batch_size"] == 2
    reports = recording.reports
    assert_forward_only(reports)
    # Within a window, the segments of its first batch are reported a batch's decoding
    # before the others: not all at the window's end. (A window's last report is the
    # stitched one, which comes after its second passes.)
    tentative = [(at, r) for (at, r), (_, later) in zip(recording.times, recording.times[1:])
                 if r["segments_from"] is not None and r["segments_from"] == later["segments_from"]]
    gaps = [b - a for (a, ra), (b, rb) in zip(tentative, tentative[1:])
            if ra["segments_from"] == rb["segments_from"]]
    assert max(gaps) > 0.3, gaps
    said = words(" ".join(s["text"] for s in partial_transcript(reports)))
    assert similarity(said, words(result["text"])) >= 0.95


def test_the_item_holds_the_transcript_so_far_under_moto(engine_settings, long_speech, jobs_table):
    engine, settings = engine_settings
    jobs_table.put_item(Item={"job_id": JOB_ID, "status": "submitted", "rank": 1})
    progress = Progress([sink(jobs_table)])
    result = transcribe_file(str(long_speech), TranscribeOptions(temperature=0.0), engine, settings,
                             progress)
    progress.close()
    assert progress.join(30)
    item = jobs_table.get_item(Key={"job_id": JOB_ID})["Item"]
    assert float(item["progress"]["seconds_done"]) == pytest.approx(result["duration"], abs=0.5)
    partial = json.loads(item["partial_segments"])
    assert similarity(words(" ".join(s["text"] for s in partial)), words(result["text"])) >= 0.95


# ---------------------------------------------------------------- the contract and its pieces

def test_the_contract_fixtures_apply_as_documented():
    fixture = json.loads((CONTRACT / "progress" / "events.json").read_text())
    partial: list[dict] = []
    for entry in fixture["reports"]:
        jsonschema.validate(entry["report"], EVENT_SCHEMA)
        partial = apply_report(partial, entry["report"])
        assert [s["text"] for s in partial] == entry["partial_after"]
    assert_forward_only([entry["report"] for entry in fixture["reports"]])

    lines = [json.loads(line) for line in (CONTRACT / "progress" / "stream.ndjson").read_text().splitlines()]
    assert [e["event"] for e in lines] == ["progress"] * (len(lines) - 1) + ["result"]
    for event in lines[:-1]:
        jsonschema.validate({k: v for k, v in event.items() if k != "event"}, EVENT_SCHEMA)
    assert [{k: v for k, v in e.items() if k != "event"} for e in lines[:-1]] == \
        [entry["report"] for entry in fixture["reports"]]


def test_reports_are_forward_only_whatever_the_transcriber_says():
    recording = Recording()
    progress = Progress([recording])
    progress.transcribing(90.0)
    a, b = ({"id": i, "start": s, "end": s + 5, "text": t} for i, (s, t) in enumerate(((30.0, "a"), (40.0, "b"))))
    progress.segments(45.0, 30.0, [a, b])
    progress.segments(35.0, 20.0, [{"id": 9, "start": 20.0, "end": 25.0, "text": "older"}, b])
    progress.close()
    assert progress.join(5)
    first, second, third = recording.reports
    assert (first["seconds_done"], first["segments_from"], first["duration"]) == (0.0, None, 90.0)
    assert third["seconds_done"] == 45.0 and third["segments_from"] == 30.0
    assert third["segments"] == [b]  # nothing before 30 s replaced, nothing twice
    assert [s["text"] for s in partial_transcript(recording.reports)] == ["b"]


def test_the_job_id_travels_beside_the_options_in_the_custom_attributes():
    from transcripts.backends.invocation import custom_attributes

    long_prompt = "東京" * 400
    header = custom_attributes({"language": "en", "initial_prompt": long_prompt}, job_id=JOB_ID)
    assert len(header) <= 1024 and header.startswith(f"job_id={JOB_ID};")
    assert custom_attribute_job_id(header) == JOB_ID
    options = parse_custom_attributes(header)
    assert options.language == "en" and long_prompt.startswith(options.initial_prompt)
    assert custom_attribute_job_id("language=en") is None


def test_progress_settings_come_from_the_environment():
    settings = Settings.from_env({"PROGRESS_TABLE": "jobs", "PROGRESS_REGION": "eu-west-1",
                                  "PROGRESS_MIN_INTERVAL": "2.5", "PARTIAL_MAX_BYTES": "100000"})
    assert (settings.progress_table, settings.progress_region) == ("jobs", "eu-west-1")
    assert (settings.progress_min_interval, settings.partial_max_bytes) == (2.5, 100_000)
    assert Settings.from_env({"AWS_DEFAULT_REGION": "us-west-2"}).progress_region == "us-west-2"
    assert Settings.from_env({}).progress_table is None
    for bad in ({"PROGRESS_MIN_INTERVAL": "soon"}, {"PROGRESS_MIN_INTERVAL": "-1"},
                {"PARTIAL_MAX_BYTES": "10"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)
