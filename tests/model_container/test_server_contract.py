"""The SageMaker container contract over real HTTP, with real tiny.en inference."""

from __future__ import annotations

import json
import os
import threading
import time

import jsonschema
import pytest
import requests

from tests import media_samples as media
from tests.conftest import REPO, ffmpeg, words

RESPONSE_SCHEMA = json.loads((REPO / "contracts/container/response.schema.json").read_text())
ERROR_SCHEMA = json.loads((REPO / "contracts/container/error.schema.json").read_text())
REPORT_WORDS = {"report", "john", "friday"}


def ok_result(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    result = response.json()
    jsonschema.validate(result, RESPONSE_SCHEMA)
    return result


def refused(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    jsonschema.validate(body, ERROR_SCHEMA)
    return body["error"]


# ---------------------------------------------------------------- formats

FORMATS = {
    "wav": lambda s, d: s,
    "flac": lambda s, d: media.convert(s, d / "a.flac"),
    "mp3": lambda s, d: media.convert(s, d / "a.mp3", "-c:a", "libmp3lame", "-b:a", "64k"),
    "m4a-aac": lambda s, d: media.convert(s, d / "a.m4a", "-c:a", "aac", "-b:a", "64k"),
    "ogg-opus": lambda s, d: media.convert(s, d / "a.ogg", "-c:a", "libopus"),
    # What a browser's MediaRecorder produces: Opus in WebM at 48 kHz.
    "webm-opus": lambda s, d: media.convert(s, d / "a.webm", "-c:a", "libopus", "-ar", "48000"),
    "mp4-with-video": lambda s, d: media.video_with_audio(s, d / "a.mp4"),
    "wav-8khz-ulaw": lambda s, d: media.convert(s, d / "ulaw.wav", "-ar", "8000", "-c:a", "pcm_mulaw"),
    "wav-96khz-24bit-stereo": lambda s, d: media.convert(s, d / "hi.wav", "-ar", "96000", "-ac", "2",
                                                         "-c:a", "pcm_s24le"),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_ffmpeg_decodes_is_transcribed(server, report_wav, tmp_path, fmt):
    audio = FORMATS[fmt](report_wav, tmp_path)
    result = ok_result(server.invoke(audio, content_type="application/octet-stream",
                                     attributes="temperature=0"))
    said = set(words(result["text"]))
    if fmt == "wav-8khz-ulaw":
        # Telephone quality blurs espeak's robotic voice; most of the sentence must survive.
        assert {"please", "send", "friday"} <= said, result["text"]
    else:
        assert REPORT_WORDS <= said, result["text"]
    assert result["language"] == "en"
    assert 2.0 < result["duration"] < 4.0
    assert result["model"]["engine"] == "faster-whisper"
    assert result["model"]["model"] == "tiny.en"
    assert result["timings"]["inference_seconds"] > 0


def test_real_recording_with_word_timestamps(server, shared_audio):
    result = ok_result(server.invoke(shared_audio("jfk.flac"), content_type="audio/flac",
                                     attributes="language=en;task=transcribe;word_timestamps=true;"
                                                "temperature=0"))
    said = words(result["text"])
    assert said[:4] == ["and", "so", "my", "fellow"] and said[-2:] == ["your", "country"]
    spoken = [w for s in result["segments"] for w in s["words"]]
    assert len(spoken) >= 20
    starts = [w["start"] for w in spoken]
    assert starts == sorted(starts) and spoken[-1]["end"] <= result["duration"] + 0.1
    assert all(0 <= w["probability"] <= 1 for w in spoken)


def test_options_are_applied_and_echoed(server, report_wav):
    result = ok_result(server.invoke(report_wav, attributes="beam_size=2, vad_filter=true, "
                                                            "temperature=0, initial_prompt=John"))
    assert result["options"]["beam_size"] == 2
    assert result["options"]["vad_filter"] is True
    assert result["options"]["initial_prompt"] == "John"
    assert "words" not in result["segments"][0]  # not asked for
    assert REPORT_WORDS <= set(words(result["text"]))


# ---------------------------------------------------------------- silence and noise

def test_silence_and_noise_give_empty_text(server, tmp_path):
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "20", str(tmp_path / "silence.wav"))
    ffmpeg("-f", "lavfi", "-i", "anoisesrc=r=16000:a=0.3:c=white", "-t", "20", str(tmp_path / "noise.wav"))
    for name in ("silence.wav", "noise.wav"):
        result = ok_result(server.invoke(tmp_path / name))
        assert result["text"] == "", f"{name}: Whisper invented {result['text']!r}"
        assert result["segments"] == []
        assert result["duration"] == pytest.approx(20, abs=0.1)


# ---------------------------------------------------------------- bad input

BAD_INPUTS = {
    "empty": (lambda r, d: b"", "the file is empty"),
    "random bytes": (lambda r, d: os.urandom(50_000), "not audio or video"),
    "png image": (lambda r, d: media.png(d / "picture.png"), "not a recording"),
    "zip named .wav": (lambda r, d: media.zip_of(r, d / "recording.wav"), "not audio or video"),
    "wav header only": (lambda r, d: media.header_only_wav(d / "header.wav"), "0.0 seconds long"),
    "video without audio": (lambda r, d: media.video_without_audio(d / "film.mp4"), "no audio stream"),
    # An HLS playlist whose segment is a file elsewhere on the server (by a file: URL): ffmpeg
    # without limits would transcribe that file.
    "hls playlist naming a host file": (lambda r, d: media.hls_playlist(r, d / "talk.wav", file_url=True),
                                        "a playlist, an image or another format that is not a recording"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_a_readable_4xx_and_the_server_keeps_serving(server, report_wav, tmp_path, case):
    make, expected = BAD_INPUTS[case]
    message = refused(server.invoke(make(report_wav, tmp_path)), 422)
    assert expected in message
    assert requests.get(server.url + "/ping", timeout=5).status_code == 200


def test_audio_over_the_duration_limit_is_refused(server, tmp_path):
    long_audio = tmp_path / "eleven-minutes.ogg"  # the test server's limit is 600 s
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "660", "-c:a", "libopus",
           "-b:a", "8k", str(long_audio))
    assert "limit is 600 seconds" in refused(server.invoke(long_audio), 422)


def test_wav_whose_header_lies_about_its_length_is_read_by_its_data(server, report_wav, tmp_path):
    result = ok_result(server.invoke(media.lying_wav(report_wav, tmp_path / "lying.wav")))
    assert REPORT_WORDS <= set(words(result["text"]))
    assert result["duration"] < 4.0


def test_truncated_mp3_gives_the_words_before_the_cut(server, window_wav, tmp_path):
    mp3 = media.convert(window_wav, tmp_path / "a.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    result = ok_result(server.invoke(media.truncated(mp3, tmp_path / "cut.mp3", keep=0.6)))
    said = set(words(result["text"]))
    assert {"open", "file"} <= said and "window" not in said


def test_over_the_size_limit_is_413_before_and_while_streaming(server):
    too_big = b"\0" * (21 * 1024 * 1024)  # the test server's limit is 20 MB
    assert "larger than the limit" in refused(server.invoke(too_big), 413)
    chunks = (too_big[i: i + 1024 * 1024] for i in range(0, len(too_big), 1024 * 1024))
    response = requests.post(server.url + "/invocations", data=chunks, timeout=60,
                             headers={"Content-Type": "application/octet-stream"})
    assert "larger than the limit" in refused(response, 413)


@pytest.mark.parametrize("content_type", ["text/plain", "image/png", "application/zip",
                                          "multipart/form-data; boundary=x"])
def test_content_types_that_cannot_be_audio_are_415(server, report_wav, content_type):
    message = refused(server.invoke(report_wav, content_type=content_type), 415)
    assert "raw bytes" in message


@pytest.mark.parametrize("attributes, expected", [
    ("beam_size=abc", "beam_size must be a number"),
    ("task=summarize", "task must be 'transcribe' or 'translate'"),
    ("colour=blue", "unknown option 'colour'"),
    ("language=fr", "English-only"),
    ("task=translate", "English-only and cannot translate"),
    ("word_timestamps", "not of the form name=value"),
])
def test_bad_options_are_400_with_the_reason(server, report_wav, attributes, expected):
    assert expected in refused(server.invoke(report_wav, attributes=attributes), 400)


def test_unknown_routes_and_methods_answer_json(server):
    assert "GET /ping" in refused(requests.get(server.url + "/nothing", timeout=5), 404)
    refused(requests.get(server.url + "/invocations", timeout=5), 405)


# ---------------------------------------------------------------- JSON requests

def test_json_request_with_an_allowed_local_path(server, report_wav):
    target = server.allowed_dir / "report.wav"
    target.write_bytes(report_wav.read_bytes())
    body = json.dumps({"audio": str(target), "options": {"word_timestamps": True}, "job_id": "j-1"})
    result = ok_result(server.invoke(body, content_type="application/json"))
    assert REPORT_WORDS <= set(words(result["text"]))
    assert result["job_id"] == "j-1" and "words" in result["segments"][0]


def test_json_request_for_a_path_outside_the_allowed_folders_is_403(server, report_wav):
    body = json.dumps({"audio": str(report_wav)})
    assert "not allowed" in refused(server.invoke(body, content_type="application/json"), 403)
    escape = json.dumps({"audio": str(server.allowed_dir / ".." / report_wav.name)})
    refused(server.invoke(escape, content_type="application/json"), 403)


def test_older_request_shape_reads_s3(server, s3, report_wav):
    client, _ = s3
    client.put_object(Bucket="audio-in", Key="uploads/report.wav", Body=report_wav.read_bytes())
    body = json.dumps({"s3_bucket": "audio-in", "s3_key": "uploads/report.wav", "language": "en",
                       "job_id": "legacy-7"})
    result = ok_result(server.invoke(body, content_type="application/json"))
    assert REPORT_WORDS <= set(words(result["text"]))
    assert result["job_id"] == "legacy-7" and result["options"]["language"] == "en"


def test_s3_uri_with_options(server, s3, window_wav):
    client, _ = s3
    client.put_object(Bucket="audio-in", Key="a/window.wav", Body=window_wav.read_bytes())
    body = json.dumps({"audio": "s3://audio-in/a/window.wav",
                       "options": {"word_timestamps": True, "beam_size": 3}})
    result = ok_result(server.invoke(body, content_type="application/json",
                                     attributes="temperature=0"))
    assert {"open", "file", "window"} <= set(words(result["text"]))
    assert result["options"]["beam_size"] == 3 and result["options"]["temperature"] == 0.0
    assert "words" in result["segments"][0]


def test_missing_s3_object_is_a_clear_400(server, s3):
    body = json.dumps({"audio": "s3://audio-in/nothing/here.wav"})
    message = refused(server.invoke(body, content_type="application/json"), 400)
    assert "s3://audio-in/nothing/here.wav does not exist" in message


@pytest.mark.parametrize("body, expected", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"options": {}}', "needs 'audio'"),
    ('{"audio": "s3://bucket-only"}', "is not an s3://bucket/key URI"),
    ('{"s3_bucket": "b"}', "needs both s3_bucket and s3_key"),
])
def test_malformed_json_requests_are_400(server, body, expected):
    assert expected in refused(server.invoke(body, content_type="application/json"), 400)


# ---------------------------------------------------------------- capacity

def test_ping_answers_fast_while_a_transcription_runs(server, window_wav, tmp_path):
    long_audio = tmp_path / "long.wav"  # about a minute of speech keeps the model busy
    ffmpeg("-stream_loop", "12", "-i", str(window_wav), str(long_audio))
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(r=server.invoke(long_audio)))
    worker.start()
    time.sleep(1.0)
    slowest = 0.0
    while worker.is_alive():
        started = time.monotonic()
        assert requests.get(server.url + "/ping", timeout=5).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.2)
    worker.join()
    assert "window" in words(ok_result(outcome["r"])["text"])
    assert slowest < 1.0, f"/ping took {slowest:.2f} s during a transcription"


def test_more_requests_than_capacity_queue_and_all_complete(server, report_wav):
    # One transcription at a time, six threads: eight requests must all wait their turn.
    results = [None] * 8
    def call(i):
        results[i] = server.invoke(report_wav, attributes="temperature=0")
    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for response in results:
        assert REPORT_WORDS <= set(words(ok_result(response)["text"]))
