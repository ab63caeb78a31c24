"""Both engines behind one interface, on the same weights, through the real pipeline."""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import SENTENCES, speak, words
from whisper_server.engines import load_engine
from whisper_server.models import ModelNotFound, resolve_model
from whisper_server.options import TranscribeOptions
from whisper_server.settings import Settings, SettingsError
from whisper_server.transcriber import transcribe_file

EXACT = TranscribeOptions(temperature=0.0, word_timestamps=True)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return dataclasses.replace(Settings.from_env({}), cpu_threads=2,
                               cache_dir=str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def engines(settings):
    return {name: load_engine(dataclasses.replace(settings, engine=name))
            for name in ("faster-whisper", "openai-whisper")}


def test_each_engine_says_how_it_was_made(engines):
    faster, reference = engines["faster-whisper"].info, engines["openai-whisper"].info
    assert (faster.engine, faster.model, faster.device, faster.compute_type) == \
        ("faster-whisper", "tiny.en", "cpu", "int8")
    assert (reference.engine, reference.model, reference.device, reference.compute_type) == \
        ("openai-whisper", "tiny.en", "cpu", "float32")
    assert not faster.multilingual and not reference.multilingual


@pytest.mark.parametrize("key", ["report", "window", "morning"])
def test_both_engines_give_the_same_words_for_clear_speech(engines, settings, speech_dir, key):
    audio = speak(SENTENCES[key], speech_dir / f"engines-{key}.wav")
    texts = {name: words(transcribe_file(str(audio), EXACT, engine, settings)["text"])
             for name, engine in engines.items()}
    assert texts["faster-whisper"] == texts["openai-whisper"] == words(SENTENCES[key])


def test_both_engines_agree_on_a_real_recording(engines, settings, shared_audio):
    audio = str(shared_audio("librispeech-1272-128104-0000.wav"))
    results = {name: transcribe_file(audio, EXACT, engine, settings) for name, engine in engines.items()}
    fast, ref = results["faster-whisper"], results["openai-whisper"]
    assert words(fast["text"]) == words(ref["text"])
    assert {"quilter", "apostle", "middle", "classes", "gospel"} <= set(words(fast["text"]))
    # Word timings from both engines land within a few tenths of a second of each other.
    fast_words = [w for s in fast["segments"] for w in s["words"]]
    ref_words = [w for s in ref["segments"] for w in s["words"]]
    assert len(fast_words) == len(ref_words)
    assert max(abs(a["start"] - b["start"]) for a, b in zip(fast_words, ref_words)) < 0.3
    assert ref["model"]["engine"] == "openai-whisper"


def test_unknown_model_names_and_bad_settings_fail_loudly(tmp_path):
    with pytest.raises(ModelNotFound, match="offline models are tiny.en"):
        resolve_model("large-v3", cache_dir=str(tmp_path), sagemaker_dir=str(tmp_path / "none"))
    with pytest.raises(ModelNotFound, match="not a CTranslate2 Whisper model folder"):
        resolve_model(str(tmp_path), cache_dir=str(tmp_path), sagemaker_dir=str(tmp_path / "none"))
    with pytest.raises(SettingsError, match="WHISPER_ENGINE must be one of"):
        Settings.from_env({"WHISPER_ENGINE": "whisper.cpp"})
    with pytest.raises(SettingsError, match="MAX_CONCURRENT_TRANSCRIPTIONS must be at least 1"):
        Settings.from_env({"MAX_CONCURRENT_TRANSCRIPTIONS": "0"})


def test_sagemaker_model_folder_wins(tmp_path):
    from whisper_server.models import tiny_en_path

    mounted = tmp_path / "opt-ml-model"
    mounted.mkdir()
    for item in tiny_en_path().iterdir():
        (mounted / item.name).symlink_to(item)
    location = resolve_model("base", cache_dir=str(tmp_path), sagemaker_dir=str(mounted))
    assert location.path == mounted
