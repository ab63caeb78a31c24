"""Audio in: probe a file with ffprobe, decode it with ffmpeg to 16 kHz mono float32,
in windows so that memory does not grow with the length of the recording."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .errors import UnusableAudio

SAMPLE_RATE = 16000
_READ_BLOCK = SAMPLE_RATE * 2 * 4  # four seconds of s16le per read
_CUT_SEARCH_SECONDS = 10  # look this far back from a window's end for a quiet place to cut
_CUT_FRAME = SAMPLE_RATE // 10
# At most this share of a window is read again at the start of the next one: the reading
# moves on. (The transcriber keeps its held-back tail within it.)
MAX_PUT_BACK = 0.5


# What ffmpeg may do with a request's file: read that file (no network, no other files
# through a playlist) and only as an audio or video container, not as an HLS or concat
# playlist or an image sequence, which would read other files on this host. (The web app
# checks uploads with the same list: transcripts/media_check.py.)
INPUT_LIMITS = (
    "-protocol_whitelist", "file,pipe",
    "-format_whitelist", "aac,ac3,aiff,amr,amrnb,amrwb,ape,asf,au,avi,caf,dsf,dts,dv,eac3,flac,flv,gsm,"
                         "loas,matroska,mlp,mov,mp3,mpc,mpc8,mpeg,mpegts,mxf,nut,ogg,rm,shn,tak,truehd,"
                         "tta,voc,w64,wav,wv,xwma",
)

@dataclass(frozen=True)
class Probe:
    format_name: str
    duration: float | None  # what the container claims; a lying header can make it wrong
    audio_codec: str
    channels: int = 1  # of the first audio stream (the one that is decoded)


@dataclass(frozen=True)
class Window:
    offset: float  # seconds from the start of the recording
    samples: np.ndarray  # float32, mono, 16 kHz
    last: bool = False  # the recording's final window


def probe(path: str, *, max_seconds: float) -> Probe:
    """Check that the file holds an audio stream ffmpeg can read, before any decoding."""
    if os.path.getsize(path) == 0:
        raise UnusableAudio("the file is empty", code="empty_file")
    result = subprocess.run(
        ["ffprobe", "-v", "error", *INPUT_LIMITS, "-print_format", "json", "-show_format",
         "-show_streams", path],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        reason = _first_line(result.stderr) or "unknown format"
        raise UnusableAudio(f"this file is not audio or video that can be decoded ({reason})",
                            code="undecodable")
    info = json.loads(result.stdout or "{}")
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise UnusableAudio("no audio stream found in this file", code="no_audio_stream")
    fmt = info.get("format", {})
    duration = _float(fmt.get("duration")) or _float(audio[0].get("duration"))
    if duration is not None and duration > max_seconds:
        raise UnusableAudio(
            f"the audio is {duration:.0f} seconds long; the limit is {max_seconds:.0f} seconds",
            code="audio_too_long")
    return Probe(format_name=fmt.get("format_name", ""), duration=duration,
                 audio_codec=audio[0].get("codec_name", ""),
                 channels=max(1, int(_float(audio[0].get("channels")) or 1)))


def decode_windows(path: str, *, window_seconds: float, max_seconds: float,
                   on_decoded: Callable[[np.ndarray], None] | None = None,
                   channel: int | None = None) -> WindowReader:
    return WindowReader(path, window_seconds=window_seconds, max_seconds=max_seconds,
                        on_decoded=on_decoded, channel=channel)


class WindowReader:
    """Iterate over the decoded audio in windows of about `window_seconds`.

    Windows end at the quietest tenth of a second near the boundary, so that a cut rarely
    falls inside a word. A window is cut only while at least another window's worth of audio
    follows it: the last window holds up to two windows' worth rather than leaving a short
    remainder, since every cut costs the engine a second pass over the audio around it (a
    3-minute recording is one window of the default 120 s, not a full one and a short one).
    `put_back(seconds)` after a window has its last seconds read again at the start of the
    next one (windows keep their size, so memory stays flat).
    After iteration, `duration` holds the decoded length and `warnings` anything a person
    should know (a damaged or truncated file).

    ffmpeg's output is read on a thread up to a window ahead, so that the next window is
    decoded while the engine transcribes this one; `on_decoded` sees every block of
    samples (float32) there, in order, before any window that holds them is handed out.
    `channel`: only that channel of the audio (0 = the first), instead of all mixed down.
    """

    def __init__(self, path: str, *, window_seconds: float, max_seconds: float,
                 on_decoded: Callable[[np.ndarray], None] | None = None,
                 channel: int | None = None):
        self.path = path
        self.channel = channel
        self.on_decoded = on_decoded
        self.window = int(window_seconds * SAMPLE_RATE)
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.total_samples = 0
        self.warnings: list[str] = []
        self._put_back = 0
        self._last_window = 0  # samples in the window handed out last

    def put_back(self, seconds: float) -> float:
        """Have the last `seconds` of the window just handed out read again at the start of
        the next one, up to MAX_PUT_BACK of it. Returns the seconds that will be read again:
        audio before them is never seen again."""
        self._put_back = min(int(seconds * SAMPLE_RATE), int(self._last_window * MAX_PUT_BACK))
        return self._put_back / SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self.total_samples / SAMPLE_RATE

    def __iter__(self) -> Iterator[Window]:
        with tempfile.TemporaryFile() as errors:
            mono = ["-ac", "1"] if self.channel is None else ["-af", f"pan=mono|c0=c{int(self.channel)}"]
            process = subprocess.Popen(
                ["ffmpeg", "-nostdin", "-v", "error", *INPUT_LIMITS, "-i", self.path, "-map", "0:a:0",
                 *mono, "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"],
                stdout=subprocess.PIPE, stderr=errors,
            )
            _widen_pipe(process.stdout)
            ahead = _ReadAhead(process.stdout, on_decoded=self.on_decoded,
                               blocks=(self.window + _CUT_SEARCH_SECONDS * SAMPLE_RATE) * 2 // _READ_BLOCK + 1)
            try:
                yield from self._windows(ahead)
            finally:
                process.kill()  # (after a normal end ffmpeg has exited already)
                ahead.stop()
                process.stdout.close()
                returncode = process.wait()
            errors.seek(0)
            message = _first_line(errors.read().decode("utf-8", "replace"))
        if self.total_samples == 0:
            detail = f" ({message})" if message else ""
            raise UnusableAudio(f"the audio is 0.0 seconds long{detail}", code="no_audio")
        if returncode not in (0, -9) or message:
            self.warnings.append(
                f"the file is damaged or truncated; transcribed the {self.duration:.1f} seconds "
                f"that could be decoded ({message or 'ffmpeg exit ' + str(returncode)})")

    def _windows(self, ahead: _ReadAhead) -> Iterator[Window]:
        pending: list[np.ndarray] = []
        pending_len = 0
        offset = 0
        while True:
            samples = ahead.get()
            if not len(samples):
                break
            self.total_samples += len(samples)
            if self.total_samples > self.max_samples:
                raise UnusableAudio(
                    f"the audio is longer than the limit of {self.max_samples // SAMPLE_RATE} seconds",
                    code="audio_too_long")
            pending.append(samples)
            pending_len += len(samples)
            if pending_len >= 2 * self.window + _CUT_SEARCH_SECONDS * SAMPLE_RATE:
                buffer = np.concatenate(pending)
                cut = _quiet_cut(buffer, self.window)
                # Not the last window: at least a window is still pending.
                self._last_window = cut
                yield Window(offset / SAMPLE_RATE, _to_float(buffer[:cut]))
                cut -= self._put_back
                self._put_back = 0
                offset += cut
                pending, pending_len = [buffer[cut:]], len(buffer) - cut
        if pending_len:
            yield Window(offset / SAMPLE_RATE, _to_float(np.concatenate(pending)), last=True)


class _ReadAhead:
    """Reads ffmpeg's output on a thread, at most `blocks` blocks ahead of the windows, and
    hands each block of samples to `on_decoded` there. A failure on the thread is raised
    where the blocks are taken."""

    def __init__(self, stream, *, on_decoded: Callable[[np.ndarray], None] | None, blocks: int):
        self._blocks: queue.Queue = queue.Queue(maxsize=max(blocks, 2))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(stream, on_decoded),
                                        name="audio-read-ahead", daemon=True)
        self._thread.start()

    def get(self) -> np.ndarray:
        """The next block of int16 samples; an empty one at the end of the stream."""
        item = self._blocks.get()
        if isinstance(item, Exception):
            raise item
        return item

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _pump(self, stream, on_decoded) -> None:
        try:
            while True:
                block = stream.read(_READ_BLOCK)
                samples = np.frombuffer(block[: len(block) // 2 * 2], dtype="<i2")
                if on_decoded is not None and len(samples):
                    on_decoded(_to_float(samples))
                if not self._put(samples) or not len(samples):
                    return
        except Exception as exc:
            self._put(exc)

    def _put(self, item) -> bool:
        while not self._stopping.is_set():  # the reader may have stopped taking blocks
            try:
                self._blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


def _widen_pipe(stream) -> None:
    """Let ffmpeg decode up to 32 s ahead into the pipe (64 KB, 2 s, by default) while the
    reader's thread runs the speech detection on what came before (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):  # elsewhere, or over the system's limit
        pass


def _quiet_cut(buffer: np.ndarray, target: int) -> int:
    """The middle of the quietest 100 ms frame in the seconds before `target`; of frames as
    quiet as that (a long pause), the latest: a window keeps its size, and the tail that
    the transcriber puts back for the next window (at most half a window) stays within it."""
    start = max(target - _CUT_SEARCH_SECONDS * SAMPLE_RATE, _CUT_FRAME)
    region = buffer[start:target].astype(np.float32)
    frames = len(region) // _CUT_FRAME
    if frames == 0:
        return target
    energy = np.square(region[: frames * _CUT_FRAME]).reshape(frames, _CUT_FRAME).mean(axis=1)
    # "As quiet": within 10 %, or under one step of 16-bit audio (digital silence, dither).
    quietest = int(np.flatnonzero(energy <= energy.min() * 1.1 + 1.0)[-1])
    return start + quietest * _CUT_FRAME + _CUT_FRAME // 2


def _to_float(samples: np.ndarray) -> np.ndarray:
    out = samples.astype(np.float32)
    out /= 32768.0  # in place: a window's float copy is its biggest array
    return out


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _first_line(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if "not on whitelist" in line:  # INPUT_LIMITS refused it: say what, not the list
            return "a playlist, an image or another format that is not a recording"
        if line:
            # ffmpeg prefixes lines with the input path; a person needs only the reason.
            return line.split(": ", 1)[-1] if line.startswith(("/", "[")) else line
    return ""
