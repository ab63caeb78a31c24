"""Progress reports while a request is transcribed: contracts/container/progress/README.md.

The transcriber tells a `Progress` what it has done; `Progress` keeps the reports
forward-only and hands each one, without waiting, to every sink's own queue, which a
daemon thread drains. A sink that raises is dropped with a log line. Transcription never
waits for a sink and never fails because of one (only `abandon()`, when whoever asked for
the reports has gone, ends it at the next report).

Sinks: `QueueSink` (the NDJSON stream of an `Accept: application/x-ndjson` request) and
`DynamoDBSink` (the job's item on AWS, with PROGRESS_TABLE)."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

log = logging.getLogger("whisper_server")

WAITING, TRANSCRIBING, FINDING_SPEAKERS = "waiting", "transcribing", "finding_speakers"
TERMINAL_STATUSES = ("completed", "failed", "expired")  # the job item's; the first one wins
# The attributes of the job item the container writes (and the condition reads): the CDK
# app limits the endpoint role's dynamodb:UpdateItem to these.
ITEM_KEY = "job_id"
WRITTEN_ATTRIBUTES = ("progress", "partial_segments", "partial_truncated")
READ_ATTRIBUTES = (ITEM_KEY, "status")
_CLOSE = object()


class Abandoned(Exception):
    """Whoever asked for the reports went away: the transcription is not wanted any more."""


class Sink:
    """Where reports go. Called on the sink's own thread, never on the transcription's."""

    def send(self, report: dict) -> None:
        raise NotImplementedError

    def due_in(self) -> float | None:
        """Seconds until the sink wants `flush()` called though no report came; None: never."""
        return None

    def flush(self) -> None:
        pass

    def close(self) -> None:
        """After the last report."""
        self.flush()


def report_segment(segment_id: int, start: float, end: float, text: str) -> dict:
    """A segment as reports carry it: the response's id, start, end and text."""
    return {"id": segment_id, "start": round(start, 3), "end": round(end, 3), "text": text.strip()}


def apply_report(partial: list[dict], report: dict) -> list[dict]:
    """The partial transcript after one report: from `segments_from` on it is the report's
    `segments`; a report with `segments_from` null leaves it as it is."""
    if report.get("segments_from") is None:
        return partial
    start = report["segments_from"]
    return [s for s in partial if s["start"] < start] + list(report["segments"])


class Progress:
    """One request's reports, fanned out to its sinks."""

    def __init__(self, sinks: Iterable[Sink]):
        self._feeds = [_Feed(sink) for sink in sinks]
        self._lock = threading.Lock()
        self._seconds_done = 0.0
        self._duration: float | None = None
        self._segments_from: float | None = None
        self._abandoned = False

    def waiting(self) -> None:
        self._report(WAITING, 0.0, None, [])

    def transcribing(self, duration: float | None) -> None:
        """Transcription starts; `duration`: the recording's length when known."""
        with self._lock:
            self._duration = round(duration, 3) if duration is not None else None
        self._report(TRANSCRIBING, 0.0, None, [])

    def segments(self, seconds_done: float, segments_from: float | None,
                 segments: Sequence[dict]) -> None:
        """`seconds_done` of the audio are transcribed; the partial transcript from
        `segments_from` on is now `segments` (None: unchanged)."""
        self._report(TRANSCRIBING, seconds_done, segments_from, segments)

    def finding_speakers(self) -> None:
        """Every window is transcribed; who speaks when is being worked out (the last stage
        of a request that asked for speakers). The partial transcript stays as it is."""
        self._report(FINDING_SPEAKERS, self._seconds_done, None, [])

    def abandon(self) -> None:
        """The next report raises Abandoned (in the transcription's thread)."""
        self._abandoned = True

    def close(self) -> None:
        """No more reports: each sink gets what is queued, then its `close()`. Returns at once."""
        for feed in self._feeds:
            feed.put(_CLOSE)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every sink has had its reports and its `close()` (after `close()`);
        whether they all did within `timeout`. Transcription never calls it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for feed in self._feeds:
            feed.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(feed.thread.is_alive() for feed in self._feeds)

    def _report(self, stage: str, seconds_done: float, segments_from: float | None,
                segments: Sequence[dict]) -> None:
        if self._abandoned:
            raise Abandoned()
        with self._lock:
            # Forward-only: seconds_done and segments_from never go back. A report that
            # would replace segments before the last segments_from keeps those and adds
            # only its segments from there on (never twice the same stretch).
            self._seconds_done = max(self._seconds_done, round(seconds_done, 3))
            if segments_from is not None:
                if self._segments_from is not None and segments_from < self._segments_from:
                    segments_from = self._segments_from
                    segments = [s for s in segments if s["start"] >= segments_from]
                self._segments_from = segments_from
            report = {"stage": stage, "seconds_done": self._seconds_done, "duration": self._duration,
                      "segments_from": segments_from,
                      "segments": list(segments) if segments_from is not None else []}
        for feed in self._feeds:
            feed.put(report)


class _Feed:
    """One sink's queue and the daemon thread that drains it."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.broken = False
        self.thread = threading.Thread(target=self._drain, name=f"progress-{type(sink).__name__}",
                                       daemon=True)
        self.thread.start()

    def put(self, item: Any) -> None:
        self.queue.put(item)

    def _drain(self) -> None:
        while True:
            try:
                item = self.queue.get(timeout=None if self.broken else self.sink.due_in())
            except queue.Empty:
                self._call(self.sink.flush)
                continue
            if item is _CLOSE:
                self._call(self.sink.close)
                return
            self._call(self.sink.send, item)

    def _call(self, method, *args) -> None:
        if self.broken:
            return
        try:
            method(*args)
        except Exception as exc:  # a broken sink is dropped; transcription goes on
            self.broken = True
            log.warning("progress: %s failed (%s: %s); it gets no more reports for this request",
                        type(self.sink).__name__, type(exc).__name__, exc)


class QueueSink(Sink):
    """Reports into a queue that someone else reads (the NDJSON stream): ("progress",
    report) for each, then ("closed", None)."""

    def __init__(self, target: queue.SimpleQueue | queue.Queue):
        self.target = target

    def send(self, report: dict) -> None:
        self.target.put(("progress", report))

    def close(self) -> None:
        self.target.put(("closed", None))


class DynamoDBSink(Sink):
    """The job's DynamoDB item (key `job_id`): `progress` (stage, seconds_done, duration,
    updated_at) and `partial_segments` (the partial transcript, whole, as JSON), with
    UpdateItem. Forward-only: only while the item exists, its status is not terminal and
    its progress is not further along. Writes are coalesced: at most one every
    `min_interval` seconds, the last report always written. A partial transcript over
    `max_partial_bytes` is not written any more (the item keeps the last one that fit) and
    `partial_truncated` is set. A refused write is logged; other errors drop the sink."""

    def __init__(self, table: Callable[[], Any], job_id: str, *, min_interval: float = 1.0,
                 max_partial_bytes: int = 300_000, clock: Callable[[], float] = time.monotonic):
        self.make_table = table  # makes the boto3 Table, on the sink's thread
        self.table: Any = None
        self.job_id = job_id
        self.min_interval = min_interval
        self.max_partial_bytes = max_partial_bytes
        self.clock = clock
        self.partial: list[dict] = []
        self.settled_before: float | None = None  # the largest segments_from so far
        self.pending: dict | None = None
        self.truncated = False
        self.last_write: float | None = None
        self.writes = self.refused = 0

    def send(self, report: dict) -> None:
        self.partial = apply_report(self.partial, report)
        if report["segments_from"] is not None:
            self.settled_before = max(self.settled_before or 0.0, report["segments_from"])
        self.pending = report
        if self.due_in() == 0:
            self.flush()

    def due_in(self) -> float | None:
        if self.pending is None:
            return None
        if self.last_write is None:
            return 0
        return max(0.0, self.last_write + self.min_interval - self.clock())

    def flush(self) -> None:
        if self.pending is None:
            return
        report, self.pending = self.pending, None
        self.last_write = self.clock()
        self._write(report)

    def _write(self, report: dict) -> None:
        from botocore.exceptions import ClientError

        if self.table is None:
            self.table = self.make_table()
        progress = {"stage": report["stage"], "seconds_done": _number(report["seconds_done"]),
                    "duration": None if report["duration"] is None else _number(report["duration"]),
                    "updated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if self.settled_before is not None:  # what no later report changes: streams send it
            progress["settled_before"] = _number(self.settled_before)
        values: dict[str, Any] = {":progress": progress, ":done": progress["seconds_done"],
                                  **{f":t{i}": s for i, s in enumerate(TERMINAL_STATUSES)}}
        partial = None if self.truncated else json.dumps(self.partial, ensure_ascii=False)
        if partial is not None and len(partial.encode("utf-8")) > self.max_partial_bytes:
            self.truncated, partial = True, None
            log.info("progress: the partial transcript of job %s is over %d bytes: not written any more",
                     self.job_id, self.max_partial_bytes)
        names = {"#key": ITEM_KEY, "#status": "status", "#progress": "progress", "#done": "seconds_done"}
        if partial is not None:
            update = "SET #progress = :progress, #partial = :partial"
            names["#partial"], values[":partial"] = "partial_segments", partial
        else:
            update = "SET #progress = :progress, #truncated = :truncated"
            names["#truncated"], values[":truncated"] = "partial_truncated", True
        terminal = ", ".join(f":t{i}" for i in range(len(TERMINAL_STATUSES)))
        try:
            self.table.update_item(
                Key={ITEM_KEY: self.job_id},
                UpdateExpression=update,
                ConditionExpression=(f"attribute_exists(#key) AND NOT (#status IN ({terminal})) AND "
                                     "(attribute_not_exists(#progress.#done) OR #progress.#done <= :done)"),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="NONE",
            )
            self.writes += 1
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            self.refused += 1
            log.info("progress: job %s's item is missing, finished or further along: "
                     "progress at %.1f s not written", self.job_id, report["seconds_done"])


def _number(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


_tables: dict[tuple[str, str | None], Any] = {}
_tables_lock = threading.Lock()


def dynamodb_table(name: str, region: str | None) -> Any:
    """The boto3 Table, made once per process, from a session of its own (boto3's clients
    are thread-safe; making them from one session in several threads is not)."""
    with _tables_lock:
        if (name, region) not in _tables:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=3, read_timeout=5,
                            retries={"max_attempts": 3, "mode": "standard"})
            _tables[(name, region)] = boto3.session.Session().resource(
                "dynamodb", region_name=region, config=config).Table(name)
        return _tables[(name, region)]
