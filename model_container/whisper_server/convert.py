"""Convert a CTranslate2 Whisper model directory into an openai-whisper checkpoint.

faster-whisper runs Whisper models stored in CTranslate2's format (``model.bin`` plus
``config.json``); openai-whisper loads a PyTorch checkpoint: a dict with ``dims``
(a ``ModelDimensions`` as a dict) and ``model_state_dict``. Both hold the same
tensors under different names, so converting is a matter of reading ``model.bin``,
renaming, and splitting the attention projections that CTranslate2 fused.

model.bin layout (``ModelSpec._serialize`` in ``ctranslate2/specs/model_spec.py``,
binary version 6, all integers little-endian)::

    u32 binary_version, str spec_name, u32 spec_revision
    u32 n_variables, then per variable:
        str name, u8 rank, u32 dims[rank], u8 dtype_id, u32 n_bytes, bytes data
    u32 n_aliases, then per alias: str alias_name, str target_name

where ``str`` is ``u16 length-including-NUL, utf-8 bytes, NUL``. The dtype ids are
0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.

What the converter has to know about CTranslate2's Whisper spec (``whisper_spec.py``,
``converters/transformers.py``):

* Self-attention q/k/v are fused into one ``linear_0`` (rows: q, then k, then v);
  ``linear_1`` is the output projection. Cross-attention keeps the query in
  ``linear_0``, fuses k/v into ``linear_1``, and ``linear_2`` is the output.
* Whisper's key projection has no bias; CTranslate2 fills that slice of the fused bias
  with zeros. openai-whisper's ``key`` Linear has no bias, so the slice is dropped
  (a key bias is a per-query constant under softmax anyway, so this is exact).
* Nothing is transposed or rescaled: conv weights are PyTorch's (out, in, kernel),
  linear weights are (out, in), and the 1/sqrt(d) attention scaling happens at run time
  in both engines.
* The output projection is tied to the token embedding and stored as an alias
  (``decoder/projection/weight -> decoder/embeddings/weight``).
* Both position tables are stored: the encoder's (sinusoidal, a buffer in
  openai-whisper) and the decoder's (learned). We copy both, so openai-whisper uses
  exactly the values faster-whisper uses.
* Quantized weights (int8/int16) come with a ``weight_scale``: ``q = round(w * scale)``,
  per output row for int8, one scalar for int16; we divide it back out.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

__all__ = ["convert_ct2_to_openai", "load_converted_model", "read_ct2_variables"]

# CTranslate2 dtype ids (include/ctranslate2/types.h); bfloat16 is decoded by hand.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
_SUPPORTED_BINARY_VERSION = 6

# Standard Whisper head counts by model width, used only if the file lacks num_heads.
_HEADS_BY_WIDTH = {384: 6, 512: 8, 768: 12, 1024: 16, 1280: 20}


# --------------------------------------------------------------------------- reading


class _Reader:
    """Sequential little-endian reader over the bytes of model.bin."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"{self.path}: truncated or not a CTranslate2 model.bin")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        length = self.unpack("H")  # includes the trailing NUL
        return self.take(length)[:-1].decode("utf-8")


def _decode(raw: bytes, dtype_id: int, shape: list[int], name: str) -> np.ndarray:
    dtype = _DTYPES.get(dtype_id)
    if dtype is None:
        raise ValueError(f"variable {name!r} has unknown dtype id {dtype_id}")
    if dtype == "bfloat16":
        # bfloat16 is the upper half of a float32: shift the bits back into place.
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        array = bits.view(np.float32)
    else:
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    return array.reshape(shape)


def read_ct2_variables(model_bin: Path) -> tuple[str, dict[str, np.ndarray]]:
    """Return (spec name, {variable name: array}), dequantized, aliases resolved."""
    reader = _Reader(Path(model_bin).read_bytes(), Path(model_bin))
    version = reader.unpack("I")
    if version != _SUPPORTED_BINARY_VERSION:
        raise ValueError(
            f"{model_bin}: model.bin binary version {version} is not supported "
            f"(this converter reads version {_SUPPORTED_BINARY_VERSION})"
        )
    spec_name = reader.string()
    reader.unpack("I")  # spec revision: the layout we rely on is the same for all

    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        shape = [reader.unpack("I") for _ in range(reader.unpack("B"))]
        dtype_id = reader.unpack("B")
        raw = reader.take(reader.unpack("I"))
        variables[name] = _decode(raw, dtype_id, shape, name)

    # Aliases (deduplicated tensors, e.g. the tied output projection) come last.
    # CTranslate2 aliases before it quantizes, so an alias has no scale of its own:
    # dequantize first, then point the alias at the dequantized target.
    aliases = [(reader.string(), reader.string()) for _ in range(reader.unpack("I"))]
    variables = _dequantize(variables)
    for alias, target in aliases:
        variables[alias] = variables[target]
    return spec_name, variables


def _dequantize(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Undo CTranslate2 weight quantization: w = q / scale (scale per row or scalar)."""
    out = dict(variables)
    for name in variables:
        if name.endswith("/weight_zero"):
            raise ValueError(f"{name}: zero-point (AWQ/GPTQ) weights are not supported")
        if not name.endswith("/weight_scale"):
            continue
        weight_name = name[: -len("_scale")]
        weight = variables[weight_name].astype(np.float32)
        scale = variables[name].astype(np.float32)
        if scale.ndim == 1:  # one scale per output row; conv weights are 3-D
            scale = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
        out[weight_name] = weight / scale
        del out[name]
    return out


# --------------------------------------------------------------------------- mapping


def _tensor(array: np.ndarray) -> torch.Tensor:
    # float16 stays float16 (openai's own checkpoints are float16, and load_state_dict
    # casts into the float32 model); everything else becomes float32.
    dtype = np.float16 if array.dtype == np.float16 else np.float32
    # Copy: arrays read from model.bin are read-only views of the file's bytes.
    return torch.from_numpy(np.array(array, dtype=dtype, copy=True))


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def _num_heads(variables: dict[str, np.ndarray], prefix: str, width: int) -> int:
    stored = variables.get(f"{prefix}/num_heads")
    if stored is not None:
        return int(stored)
    if width not in _HEADS_BY_WIDTH:
        raise ValueError(f"{prefix}: no num_heads stored and unknown width {width}")
    return _HEADS_BY_WIDTH[width]


def _build_state_dict(v: dict[str, np.ndarray], dims: dict) -> dict[str, torch.Tensor]:
    sd: dict[str, torch.Tensor] = {}

    def linear(dst: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
        sd[f"{dst}.weight"] = _tensor(weight)
        if bias is not None:
            sd[f"{dst}.bias"] = _tensor(bias)

    def copy_linear(dst: str, src: str) -> None:
        linear(dst, v[f"{src}/weight"], v.get(f"{src}/bias"))

    def layer_norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = _tensor(v[f"{src}/gamma"])
        sd[f"{dst}.bias"] = _tensor(v[f"{src}/beta"])

    def split(src: str, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
        weights = np.split(v[f"{src}/weight"], parts, axis=0)
        bias = v.get(f"{src}/bias")
        if bias is None:
            bias = np.zeros(v[f"{src}/weight"].shape[0], dtype=np.float32)
        return list(zip(weights, np.split(bias, parts)))

    def attention(dst: str, src: str, cross: bool) -> None:
        if cross:  # linear_0 = q, linear_1 = [k; v], linear_2 = out
            copy_linear(f"{dst}.query", f"{src}/linear_0")
            (kw, _), (vw, vb) = split(f"{src}/linear_1", 2)
            out = f"{src}/linear_2"
        else:  # linear_0 = [q; k; v], linear_1 = out
            (qw, qb), (kw, _), (vw, vb) = split(f"{src}/linear_0", 3)
            linear(f"{dst}.query", qw, qb)
            out = f"{src}/linear_1"
        linear(f"{dst}.key", kw, None)  # Whisper's key projection has no bias
        linear(f"{dst}.value", vw, vb)
        copy_linear(f"{dst}.out", out)

    def block(dst: str, src: str, cross: bool) -> None:
        attention(f"{dst}.attn", f"{src}/self_attention", cross=False)
        layer_norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        if cross:
            attention(f"{dst}.cross_attn", f"{src}/attention", cross=True)
            layer_norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        copy_linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        copy_linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        layer_norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    # Encoder: two convolutions, sinusoidal positions (a buffer), blocks, final norm.
    for conv in ("conv1", "conv2"):
        copy_linear(f"encoder.{conv}", f"encoder/{conv}")
    sd["encoder.positional_embedding"] = _tensor(v["encoder/position_encodings/encodings"])
    for i in range(dims["n_audio_layer"]):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    layer_norm("encoder.ln_post", "encoder/layer_norm")

    # Decoder: token embedding (also the output projection), learned positions, blocks.
    sd["decoder.token_embedding.weight"] = _tensor(v["decoder/embeddings/weight"])
    sd["decoder.positional_embedding"] = _tensor(v["decoder/position_encodings/encodings"])
    for i in range(dims["n_text_layer"]):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    layer_norm("decoder.ln", "decoder/layer_norm")
    return sd


def _check_whisper_layout(v: dict[str, np.ndarray]) -> None:
    """Refuse models openai-whisper's architecture cannot represent."""
    projection = v.get("decoder/projection/weight")
    if projection is not None and not np.array_equal(projection, v["decoder/embeddings/weight"]):
        raise ValueError("output projection is not tied to the token embedding")
    bias = v.get("decoder/projection/bias")
    if bias is not None and np.any(bias):
        raise ValueError("output projection has a bias; openai-whisper has none")
    if bool(v.get("decoder/scale_embeddings", False)):
        raise ValueError("decoder scales its embeddings; openai-whisper does not")


def _dims(v: dict[str, np.ndarray]) -> dict:
    """Derive openai-whisper's ModelDimensions from tensor shapes."""
    n_audio_state, n_mels, _ = v["encoder/conv1/weight"].shape
    n_vocab, n_text_state = v["decoder/embeddings/weight"].shape
    return dict(
        n_mels=int(n_mels),
        n_audio_ctx=int(v["encoder/position_encodings/encodings"].shape[0]),
        n_audio_state=int(n_audio_state),
        n_audio_head=_num_heads(v, "encoder", int(n_audio_state)),
        n_audio_layer=_count_layers(v, "encoder"),
        n_vocab=int(n_vocab),  # openai-whisper infers multilingual from n_vocab >= 51865
        n_text_ctx=int(v["decoder/position_encodings/encodings"].shape[0]),
        n_text_state=int(n_text_state),
        n_text_head=_num_heads(v, "decoder", int(n_text_state)),
        n_text_layer=_count_layers(v, "decoder"),
    )


def _alignment_heads_dump(config: dict, dims: dict) -> str:
    """Encode the cross-attention heads used for word timing the way whisper's
    _ALIGNMENT_HEADS does: a (n_text_layer, n_text_head) bool mask, gzip, base85."""
    mask = np.zeros((dims["n_text_layer"], dims["n_text_head"]), dtype=bool)
    heads = config.get("alignment_heads")
    if heads:
        for layer, head in heads:
            mask[layer, head] = True
    else:  # same default as openai-whisper and CTranslate2: all heads, last half
        mask[dims["n_text_layer"] // 2 :] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0)).decode("ascii")


def _verify_against_whisper(sd: dict[str, torch.Tensor], dims: dict) -> None:
    """Compare names and shapes with an empty openai-whisper model (no memory used).

    Encoder and decoder are built separately on the "meta" device because
    Whisper.__init__ itself calls to_sparse(), which meta tensors do not support.
    """
    from whisper.model import AudioEncoder, TextDecoder

    d = dims
    with torch.device("meta"):
        encoder = AudioEncoder(
            d["n_mels"], d["n_audio_ctx"], d["n_audio_state"], d["n_audio_head"], d["n_audio_layer"]
        )
        decoder = TextDecoder(
            d["n_vocab"], d["n_text_ctx"], d["n_text_state"], d["n_text_head"], d["n_text_layer"]
        )
    expected = {f"encoder.{k}": t for k, t in encoder.state_dict().items()}
    expected.update({f"decoder.{k}": t for k, t in decoder.state_dict().items()})
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    wrong = [k for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k].shape)]
    if missing or extra or wrong:
        raise ValueError(
            f"converted tensors do not fit openai-whisper: missing={missing[:5]} "
            f"unexpected={extra[:5]} wrong shape={wrong[:5]}"
        )


# --------------------------------------------------------------------------- public API


def convert_ct2_to_openai(ct2_dir: str | Path, out_path: str | Path) -> Path:
    """Convert the CTranslate2 Whisper model in ``ct2_dir`` to an openai-whisper
    checkpoint at ``out_path`` (written to a temp file, then renamed). Returns out_path.

    Raises FileNotFoundError when the directory or its model.bin is missing, and
    ValueError when model.bin is not a CTranslate2 Whisper model this code can read.
    """
    ct2_dir, out_path = Path(ct2_dir), Path(out_path)
    if not ct2_dir.is_dir():
        raise FileNotFoundError(f"CTranslate2 model directory not found: {ct2_dir}")
    model_bin = ct2_dir / "model.bin"
    if not model_bin.is_file():
        raise FileNotFoundError(f"no model.bin in CTranslate2 model directory {ct2_dir}")
    config_file = ct2_dir / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}

    spec_name, variables = read_ct2_variables(model_bin)
    if spec_name != "WhisperSpec":
        raise ValueError(f"{model_bin} holds a {spec_name or 'unnamed'} model, not Whisper")
    _check_whisper_layout(variables)

    dims = _dims(variables)
    state_dict = _build_state_dict(variables, dims)
    _verify_against_whisper(state_dict, dims)
    checkpoint = {
        "dims": dims,
        "model_state_dict": state_dict,
        # Not read by whisper.load_model for file paths; see load_converted_model.
        "alignment_heads": _alignment_heads_dump(config, dims),
    }

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=out_path.name + ".", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            torch.save(checkpoint, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; a model file is not secret
        os.replace(tmp_name, out_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out_path


def load_converted_model(path: str | Path, device: str | torch.device | None = None):
    """``whisper.load_model(path)`` plus the alignment heads stored by the converter.

    whisper.load_model only sets alignment heads for its named models; for a file it
    keeps the default (last half of the decoder layers), which gives poorer word
    timestamps than the heads the model was published with.
    """
    import whisper

    model = whisper.load_model(str(path), device=device)
    checkpoint = torch.load(str(path), map_location="meta", weights_only=True)
    if checkpoint.get("alignment_heads"):
        model.set_alignment_heads(checkpoint["alignment_heads"].encode("ascii"))
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m whisper_server.convert",
        description="Convert a CTranslate2 Whisper model directory to an openai-whisper .pt",
    )
    parser.add_argument("ct2_dir", help="directory with model.bin and config.json")
    parser.add_argument("out", help="checkpoint to write, e.g. tiny.en.pt")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        out = convert_ct2_to_openai(args.ct2_dir, args.out)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
