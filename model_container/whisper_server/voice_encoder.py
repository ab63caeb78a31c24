"""A speaker's voice as a vector: the trained speaker encoder that the `resemblyzer` wheel
carries (`resemblyzer/pretrained.pt`: a 3-layer LSTM over 40 mel bands of 16 kHz audio,
256-dimensional L2-normed d-vectors), run with numpy.

Only the wheel's weights are used, not its code: its package imports librosa, numba,
webrtcvad and torch, none of which this server needs for it (the CPU image has no torch),
so the wheel is installed with --no-deps and this module reads the weights itself. The file
is PyTorch's legacy serialization (a few pickles, then the raw storages); it is read with
an unpickler that builds nothing but plain containers and arrays (no code from the file
runs), and nothing is downloaded.
"""

from __future__ import annotations

import functools
import io
import mmap
import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
MEL_BANDS = 40
FFT_SIZE = 400  # 25 ms
HOP = 160  # 10 ms: one mel frame
PARTIAL_FRAMES = 160  # 1.6 s: the length of audio the encoder was trained on
EMBEDDING_SIZE = 256
# Partials through the network at once: a layer's outputs take 160 x 256 x 4 bytes each
# (10 MB for 64); batches of 64 already keep the matrix products efficient.
MAX_BATCH = 64
# The encoder was trained on audio whose loudness was raised (never lowered) to -30 dBFS.
TARGET_DBFS = -30.0
WEIGHTS_PACKAGE = "resemblyzer"
WEIGHTS_FILE = "resemblyzer/pretrained.pt"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class EncoderUnavailable(RuntimeError):
    """The speaker encoder's weights are not installed."""


def weights_path() -> Path:
    """Where the installed `resemblyzer` wheel keeps its encoder, found without importing
    the package (its __init__ imports librosa, which the server does not install)."""
    try:
        path = Path(str(distribution(WEIGHTS_PACKAGE).locate_file(WEIGHTS_FILE)))
    except PackageNotFoundError:
        raise EncoderUnavailable(
            "the speaker model is not installed: pip install --no-deps resemblyzer==0.1.4 "
            "(model_container/requirements-speakers.txt)") from None
    if not path.is_file():
        raise EncoderUnavailable(f"the speaker model is missing from its package: {path}")
    return path


# ---- reading PyTorch's legacy checkpoint format without torch -------------------------

@dataclass
class _Storage:
    dtype: type
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        assert self.storage.data is not None
        flat = self.storage.data
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=self.size, strides=[s * itemsize for s in self.stride])
        return np.array(view)  # a copy: the storage (often shared) can then be dropped


class _StorageType:
    def __init__(self, name: str):
        if name not in _DTYPES:
            raise pickle.UnpicklingError(f"unexpected storage type {name}")
        self.dtype = _DTYPES[name]


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Builds only dicts, lists, tuples, numbers, strings and tensor references: any other
    global the file names is refused, so loading runs no code from it."""

    def __init__(self, file, storages: dict[str, _Storage]):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"),
                              ("torch._utils", "_rebuild_tensor")):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the checkpoint")

    def persistent_load(self, pid):
        kind, *rest = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent object {kind}")
        storage_type, key, _location, numel, *_view = rest
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(numel))
        return self.storages[key]


def read_legacy_checkpoint(data, keep: str | None = None) -> dict:
    """A checkpoint written by torch.save before PyTorch 1.6, tensors as numpy arrays.
    `data`: its bytes, or an mmap of the file (the tensors are then copied straight out of
    the mapping); `keep`: only that entry is converted and returned (the encoder needs
    `model_state`, not the optimizer's state, which is twice as big)."""
    stream = data if isinstance(data, mmap.mmap) else io.BytesIO(data)
    plain = _Unpickler(stream, {})
    if plain.load() != _LEGACY_MAGIC:
        raise ValueError("not a legacy PyTorch checkpoint")
    plain.load()  # protocol version
    info = plain.load()
    if not info.get("little_endian", True):
        raise ValueError("a big-endian checkpoint")
    storages: dict[str, _Storage] = {}
    result = _Unpickler(stream, storages).load()
    keys = _Unpickler(stream, storages).load()
    buffer = data if isinstance(data, mmap.mmap) else memoryview(data)
    for key in keys:
        storage = storages[key]
        count = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        size = count * np.dtype(storage.dtype).itemsize
        storage.data = np.frombuffer(buffer, dtype=storage.dtype, count=count, offset=stream.tell())
        stream.seek(size, os.SEEK_CUR)
    converted = _arrays(result if keep is None else {keep: result[keep]})
    for storage in storages.values():  # no view of the mapping outlives this call
        storage.data = None
    return converted


def _arrays(value):
    if isinstance(value, _TensorRef):
        return value.array()
    if isinstance(value, dict):
        return type(value)((k, _arrays(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_arrays(v) for v in value)
    return value


# ---- the encoder ------------------------------------------------------------------------

def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / step, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(step * (mel - 15.0)), mel * (200.0 / 3))


def mel_filters(bands: int = MEL_BANDS, fft_size: int = FFT_SIZE,
                rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular filters, equally spaced on the mel scale from 0 Hz to Nyquist, each
    scaled to unit area (the filter bank the encoder's training used): (bands, bins)."""
    bins = np.linspace(0, rate / 2, fft_size // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(rate / 2), bands + 2))
    widths = np.diff(edges)
    slopes = edges[:, None] - bins[None, :]
    lower = -slopes[:-2] / widths[:-1, None]
    upper = slopes[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(lower, upper))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters.astype(np.float32)


class VoiceEncoder:
    """d-vectors of 16 kHz speech. `embed` takes many pieces at once: their 1.6 s partials go
    through the LSTM as one batch (one call per piece costs several times as much)."""

    def __init__(self, state: dict[str, np.ndarray]):
        # PyTorch keeps the gates in the order input, forget, cell, output. Here: input,
        # forget, output, cell, with the first three scaled by 1/2, so that one tanh over
        # all four gives the three sigmoids (sigmoid(x) = (tanh(x/2) + 1) / 2) and the cell's
        # tanh at once.
        size = EMBEDDING_SIZE
        order = np.r_[0:2 * size, 3 * size:4 * size, 2 * size:3 * size]
        scale = np.r_[np.full(3 * size, 0.5), np.ones(size)].astype(np.float32)
        self.layers = []
        for layer in range(3):
            w_ih = state[f"lstm.weight_ih_l{layer}"][order] * scale[:, None]
            w_hh = state[f"lstm.weight_hh_l{layer}"][order] * scale[:, None]
            bias = (state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"])[order] * scale
            # One product per step: [input, hidden] @ [W_ih; W_hh].
            self.layers.append((np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1).T, dtype=np.float32),
                                bias.astype(np.float32)))
        self.linear_w = np.ascontiguousarray(state["linear.weight"].astype(np.float32).T)
        self.linear_b = state["linear.bias"].astype(np.float32)
        self.filters = mel_filters()
        # The periodic Hann window.
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT_SIZE) / FFT_SIZE)).astype(np.float32)

    @classmethod
    def load(cls, path: Path | None = None) -> VoiceEncoder:
        with open(path or weights_path(), "rb") as file, \
                mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            state = read_legacy_checkpoint(mapped, keep="model_state")["model_state"]
        return cls(state)

    def mel(self, samples: np.ndarray) -> np.ndarray:
        """The encoder's input: mel power spectrogram (not its log), frames of 25 ms every
        10 ms, centred (zero padding at both ends): (frames, 40)."""
        samples = np.asarray(samples, dtype=np.float32)
        padded = np.pad(samples, FFT_SIZE // 2)
        count = 1 + (len(padded) - FFT_SIZE) // HOP
        frames = np.lib.stride_tricks.as_strided(
            padded, shape=(count, FFT_SIZE), strides=(padded.strides[0] * HOP, padded.strides[0]))
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)).astype(np.float32) ** 2
        return power @ self.filters.T

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel frames → (batch, 256) L2-normed embeddings: the last
        layer's final hidden state, through a linear layer and a ReLU. Time-major and in
        place: a step's element-wise work costs as much as its matrix product, and no
        array holds more than one layer's outputs (batch x frames x 256)."""
        batch, steps, _ = mels.shape
        size = EMBEDDING_SIZE
        x = np.ascontiguousarray(mels.transpose(1, 0, 2), dtype=np.float32)  # (steps, batch, 40)
        gates = np.empty((batch, 4 * size), dtype=np.float32)
        product = np.empty((batch, size), dtype=np.float32)
        sigmoids = gates[:, :3 * size]
        i, f, o, g = (gates[:, k * size:(k + 1) * size] for k in range(4))
        for number, (weights, bias) in enumerate(self.layers):
            width = x.shape[2]
            joined = np.zeros((batch, width + size), dtype=np.float32)  # [input, hidden]
            hidden = joined[:, width:]
            cell = np.zeros((batch, size), dtype=np.float32)
            last = number == len(self.layers) - 1
            outputs = None if last else np.empty((steps, batch, size), dtype=np.float32)
            for t in range(steps):
                joined[:, :width] = x[t]
                np.matmul(joined, weights, out=gates)
                gates += bias
                np.tanh(gates, out=gates)
                sigmoids *= 0.5
                sigmoids += 0.5
                cell *= f
                np.multiply(i, g, out=product)
                cell += product
                np.tanh(cell, out=product)
                np.multiply(o, product, out=hidden)
                if outputs is not None:
                    outputs[t] = hidden
            if outputs is not None:
                x = outputs
        raw = np.maximum(hidden @ self.linear_w + self.linear_b, 0.0)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)

    def embed(self, pieces: list[np.ndarray]) -> np.ndarray:
        """One embedding per piece of 16 kHz audio: the normed mean over its 1.6 s partials
        (as many as fit about whole, spread evenly from its start to its end; a piece
        shorter than 1.6 s is padded with silence, as in the encoder's training). All the
        partials go through the network as one batch. (len(pieces), 256)."""
        if not pieces:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        with _one_blas_thread():
            return self._embed(pieces)

    def _embed(self, pieces: list[np.ndarray]) -> np.ndarray:
        partials: list[np.ndarray] = []
        owners: list[int] = []
        for index, piece in enumerate(pieces):
            mel = self.mel(normalize_volume(piece))
            if len(mel) < PARTIAL_FRAMES:
                mel = np.pad(mel, ((0, PARTIAL_FRAMES - len(mel)), (0, 0)))
            count = max(1, round(len(mel) / PARTIAL_FRAMES))
            for start in np.linspace(0, len(mel) - PARTIAL_FRAMES, count).round().astype(int):
                partials.append(mel[start:start + PARTIAL_FRAMES])
                owners.append(index)
        embeddings = np.concatenate([self.forward(np.stack(partials[at:at + MAX_BATCH]))
                                     for at in range(0, len(partials), MAX_BATCH)])
        sums = np.zeros((len(pieces), EMBEDDING_SIZE), dtype=np.float32)
        np.add.at(sums, np.asarray(owners), embeddings)
        return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)


def normalize_volume(samples: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Raise quiet audio to `target_dbfs` (RMS); louder audio stays as it is."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    if rms <= 1e-6:
        return samples
    change = target_dbfs - 20 * np.log10(rms)
    return samples * np.float32(10 ** (change / 20)) if change > 0 else samples


@functools.lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread():
    """The network's matrix products are small (a batch of partials by 256 by 1024, 480
    times): OpenBLAS's threads cost more than they bring there, and far more when other
    work holds the cores (measured on 2 busy cores: 35 pieces in 0.6 s with one thread,
    6.6 s with two)."""
    return _blas_controller().limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def load_encoder() -> VoiceEncoder:
    """The installed speaker encoder, loaded once per process (about 17 MB read, 5 MB kept)."""
    return VoiceEncoder.load()
