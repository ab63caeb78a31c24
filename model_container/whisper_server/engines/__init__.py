"""Engines behind one interface (base.Engine), chosen by WHISPER_ENGINE."""

from __future__ import annotations

from ..models import resolve_model
from ..settings import Settings
from .base import Engine, EngineInfo, EngineResult, Segment, Word


def load_engine(settings: Settings) -> Engine:
    location = resolve_model(settings.model, cache_dir=settings.cache_dir,
                             models_dir=settings.models_dir,
                             sagemaker_dir=settings.sagemaker_model_dir)
    if settings.engine == "openai-whisper":
        from .reference import OpenAIWhisperEngine
        return OpenAIWhisperEngine(location, cache_dir=settings.cache_dir, device=settings.device,
                                   cpu_threads=settings.cpu_threads)
    from .faster import FasterWhisperEngine
    return FasterWhisperEngine(location, device=settings.device, compute_type=settings.compute_type,
                               cpu_threads=settings.cpu_threads)


__all__ = ["Engine", "EngineInfo", "EngineResult", "Segment", "Word", "load_engine"]
