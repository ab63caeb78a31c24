"""faster-whisper's log-Mel spectrogram with bounded memory.

The library computes the spectrogram of a whole window at once, and its STFT's intermediate
arrays take about 0.8 MB per second of audio (measured: 100 MB for 120 s, 230 MB for 300 s),
which made peak memory follow the window size. Computed 30 s of frames at a time (each
frame's FFT depends only on its own samples), the spectrogram is the same to within float
rounding (1e-7) and the intermediates stay about 25 MB whatever the window."""

from __future__ import annotations

import numpy as np
from faster_whisper.feature_extractor import FeatureExtractor

SLICE_FRAMES = 3000  # 30 s of 10 ms frames


class SlicedFeatureExtractor(FeatureExtractor):
    @classmethod
    def replacing(cls, extractor: FeatureExtractor) -> SlicedFeatureExtractor:
        """The same extractor (model's settings and Mel filters), computing in slices."""
        sliced = cls.__new__(cls)
        sliced.__dict__.update(extractor.__dict__)
        return sliced

    def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length: int | None = None):
        if len(waveform) <= SLICE_FRAMES * self.hop_length:  # small already: the library's way
            return super().__call__(waveform, padding=padding, chunk_length=chunk_length)
        if chunk_length is not None:
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        waveform = waveform.astype(np.float32, copy=False)
        half = self.n_fft // 2
        # The library pads the whole input (zeros after it, then a reflection at each end,
        # as its centred STFT does) before its STFT; here only each slice is padded.
        total = len(waveform) + padding
        frames = total // self.hop_length  # the last STFT frame is dropped, as the library does
        window = np.hanning(self.n_fft + 1)[:-1].astype("float32")
        log_spec = np.empty((self.mel_filters.shape[0], frames), dtype=np.float32)
        for first in range(0, frames, SLICE_FRAMES):
            last = min(first + SLICE_FRAMES, frames)
            piece = _padded(waveform, padding, first * self.hop_length - half,
                            (last - 1) * self.hop_length + half)
            stft = self.stft(piece, self.n_fft, self.hop_length, window=window, center=False,
                             return_complex=True).astype("complex64")
            mel_spec = self.mel_filters @ (np.abs(stft) ** 2)
            log_spec[:, first:last] = np.log10(np.clip(mel_spec, a_min=1e-10, a_max=None))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0


def _padded(waveform: np.ndarray, padding: int, start: int, end: int) -> np.ndarray:
    """Samples [start, end) of the waveform followed by `padding` zeros, reflected at both
    ends (numpy's "reflect" mode: the edge sample is not repeated)."""
    total = len(waveform) + padding

    def sample_index(i: np.ndarray) -> np.ndarray:
        i = np.where(i < 0, -i, i)
        return np.where(i >= total, 2 * (total - 1) - i, i)

    if start >= 0 and end <= len(waveform):
        return waveform[start:end]
    indices = sample_index(np.arange(start, end))
    inside = indices < len(waveform)
    piece = np.zeros(end - start, dtype=np.float32)
    piece[inside] = waveform[indices[inside]]
    return piece
