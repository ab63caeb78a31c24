"""Parsing X-Amzn-SageMaker-Custom-Attributes and JSON options."""

import pytest

from whisper_server.errors import InputError
from whisper_server.options import TranscribeOptions, options_from_mapping, parse_custom_attributes


def test_no_header_means_defaults():
    assert parse_custom_attributes(None) == TranscribeOptions()
    assert parse_custom_attributes("  ") == TranscribeOptions()


def test_every_option_from_the_header():
    options = parse_custom_attributes(
        "language=FR; task=translate;word_timestamps=true;vad_filter=1;"
        "initial_prompt=Kubernetes and Django;beam_size=3;temperature=0.2;batch_size=0")
    assert options == TranscribeOptions(language="fr", task="translate", word_timestamps=True,
                                        vad_filter=True, initial_prompt="Kubernetes and Django",
                                        beam_size=3, temperature=0.2, batch_size=0)


def test_commas_separate_too_and_aliases_are_understood():
    options = parse_custom_attributes("lang=de, prompt=Hallo, vad=yes, beam=1")
    assert (options.language, options.initial_prompt, options.vad_filter, options.beam_size) == \
        ("de", "Hallo", True, 1)


def test_auto_language_means_detect_and_empty_values_keep_defaults():
    assert parse_custom_attributes("language=auto").language is None
    assert parse_custom_attributes("language=;beam_size=").beam_size == 5


@pytest.mark.parametrize("header, message", [
    ("beam_size=0", "beam_size must be between 1 and 10"),
    ("beam_size=2.5", "beam_size must be a number"),
    ("temperature=3", "temperature must be between 0.0 and 1.0"),
    ("word_timestamps=maybe", "word_timestamps must be true or false"),
    ("language=english", "is not a language code"),
    ("task=summarize", "task must be 'transcribe' or 'translate'"),
    ("speed=2", "unknown option 'speed'"),
    ("verbose", "not of the form name=value"),
])
def test_bad_values_are_refused_with_the_reason(header, message):
    with pytest.raises(InputError) as caught:
        parse_custom_attributes(header)
    assert message in caught.value.message
    assert caught.value.status == 400


def test_json_values_keep_their_types():
    options = options_from_mapping({"word_timestamps": True, "beam_size": 2, "temperature": 0,
                                    "language": None})
    assert options.word_timestamps is True and options.beam_size == 2
    assert options.temperature == 0.0 and options.language is None
    with pytest.raises(InputError):
        options_from_mapping({"beam_size": True})  # a bool is not a number


def test_values_are_percent_decoded_so_names_in_any_script_arrive_intact():
    options = parse_custom_attributes(
        "task=transcribe;initial_prompt=Nguy%E1%BB%85n%2C%20%E6%9D%B1%E4%BA%AC%3B%20M%C3%BCller")
    assert options.initial_prompt == "Nguyễn, 東京; Müller"
    assert parse_custom_attributes("initial_prompt=50% off").initial_prompt == "50% off"


def test_a_value_that_is_not_percent_encoded_utf8_is_refused_with_its_name():
    with pytest.raises(InputError, match="initial_prompt.*percent-encoded UTF-8"):
        parse_custom_attributes("initial_prompt=%FF%FE")


def test_speaker_options_from_the_header_and_from_json():
    assert parse_custom_attributes("diarize=true") == TranscribeOptions(diarize=True)
    assert parse_custom_attributes("speakers=2") == TranscribeOptions(diarize=True, speakers=2)
    assert parse_custom_attributes("num_speakers=3;diarization=yes").speakers == 3
    ranged = options_from_mapping({"min_speakers": 2, "max_speakers": "4"})
    assert (ranged.diarize, ranged.min_speakers, ranged.max_speakers) == (True, 2, 4)
    channels = parse_custom_attributes("channels_as_speakers=true")
    assert channels.channels_as_speakers and channels.wants_speakers and not channels.diarize
    assert not TranscribeOptions().wants_speakers


@pytest.mark.parametrize("raw, message", [
    ({"speakers": "0"}, "speakers must be between 1 and 20"),
    ({"max_speakers": 21}, "max_speakers must be between 1 and 20"),
    ({"min_speakers": "two"}, "min_speakers must be a number"),
    ({"diarize": "sometimes"}, "diarize must be true or false"),
    ({"speakers": 2, "max_speakers": 3}, "give either speakers (an exact count) or min_speakers"),
    ({"min_speakers": 3, "max_speakers": 2}, "min_speakers (3) is more than max_speakers (2)"),
    ({"speakers": 2, "diarize": False}, "speakers needs diarize=true"),
    ({"speakers": 2, "channels_as_speakers": True}, "each channel is one speaker"),
])
def test_speaker_counts_that_cannot_be_met_are_refused(raw, message):
    with pytest.raises(InputError) as caught:
        options_from_mapping(raw)
    assert message in caught.value.message and caught.value.status == 400
