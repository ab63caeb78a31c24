"""Quality flags on crafted model results: each check fires on its case, not on clean speech."""

from __future__ import annotations

import pytest

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import services
from transcripts.models import Job
from transcripts.quality import quality_flags
from transcripts.services import Outcome

CLEAN = ["Good morning everyone.", "Today we look at the budget for next year.",
         "Please send the report to John by Friday.", "Any questions before we start?"]


def segment(i: int, text: str, **scores) -> dict:
    return {"id": i, "start": 4.0 * i, "end": 4.0 * i + 4.0, "text": f" {text}",
            "avg_logprob": -0.25, "no_speech_prob": 0.02, "compression_ratio": 1.3, **scores}


def result(texts=CLEAN, *, language="en", requested=None, **scores_by_index) -> dict:
    segments = [segment(i, t, **scores_by_index.get(f"s{i}", {})) for i, t in enumerate(texts)]
    out = make_result(" ".join(texts), segments)
    out["language"] = language
    out["options"] = {"language": requested, "task": "transcribe"}
    return out


def codes(res: dict, requested=None) -> list[str]:
    return [flag["code"] for flag in quality_flags(res, requested)]


def reason(res: dict, code: str, requested=None) -> str:
    return next(f["reason"] for f in quality_flags(res, requested) if f["code"] == code)


def test_clean_speech_has_no_flags():
    assert quality_flags(result(), None) == []
    assert quality_flags(result(), "en") == []
    assert quality_flags(make_result("Please send the report"), None) == []


def test_a_phrase_looping_across_segments_is_flagged_with_where_and_how_often():
    looped = result(CLEAN[:2] + ["Thank you for watching."] * 4)
    assert codes(looped) == ["repetition"]
    text = reason(looped, "repetition")
    assert "“thank you for watching”" in text and "4 times in a row" in text and "at 0:08" in text


def test_a_phrase_looping_inside_one_segment_is_flagged():
    assert codes(result(["and then I said I think that I think that I think that we"])) == ["repetition"]


def test_a_phrase_said_twice_is_ordinary_speech():
    assert codes(result(["I think that, I think that we should go.", "Thank you for watching.",
                         "Thank you for watching.", "See you."])) == []


def test_a_short_segment_repeated_three_times_in_a_row_is_flagged():
    looped = result(CLEAN + ["Thank you."] * 3)
    assert codes(looped) == ["repetition"]
    assert "3 segments in a row" in reason(looped, "repetition")
    assert "“Thank you.”" in reason(looped, "repetition")


def test_the_same_short_segment_spread_through_a_conversation_is_not_flagged():
    spread = ["Yes.", CLEAN[0], "Yes.", CLEAN[1], "Yes.", CLEAN[2]]
    assert codes(result(spread)) == []


def test_text_where_the_model_heard_silence_is_flagged():
    silent = result(CLEAN + ["Subtitles by the community."], s4={"no_speech_prob": 0.93})
    assert codes(silent) == ["text_over_silence"]
    text = reason(silent, "text_over_silence")
    assert "1 segment has text" in text and "at 0:16" in text and "Subtitles by the community" in text


def test_high_no_speech_probability_without_text_or_at_the_threshold_is_not_flagged():
    assert codes(result(CLEAN + [""], s4={"no_speech_prob": 0.95})) == []
    assert codes(result(s1={"no_speech_prob": 0.6})) == []


def test_a_low_confidence_segment_is_flagged_but_the_whole_is_fine():
    shaky = result(s2={"avg_logprob": -1.6})
    assert codes(shaky) == ["low_confidence_segments"]
    text = reason(shaky, "low_confidence_segments")
    assert "1 segment was" in text and "-1.60" in text and "at 0:08" in text


def test_a_transcript_the_model_was_unsure_of_throughout_is_flagged():
    unsure = result(**{f"s{i}": {"avg_logprob": -1.2} for i in range(4)})
    assert codes(unsure) == ["low_confidence", "low_confidence_segments"]
    assert "-1.20" in reason(unsure, "low_confidence")


def test_the_overall_mean_is_weighted_by_segment_length():
    # One long confident passage outweighs a short unsure one: no overall flag.
    res = result(s0={"avg_logprob": -0.1, "end": 120.0}, s1={"avg_logprob": -2.5})
    assert "low_confidence" not in codes(res)
    assert "low_confidence_segments" in codes(res)


def test_a_compression_ratio_outlier_is_flagged_and_the_threshold_itself_is_not():
    repetitive = result(s3={"compression_ratio": 3.1})
    assert codes(repetitive) == ["high_compression_ratio"]
    assert "(3.1)" in reason(repetitive, "high_compression_ratio")
    assert codes(result(s3={"compression_ratio": 2.4})) == []


def test_a_language_other_than_the_one_asked_is_flagged():
    other = result(language="de")
    assert codes(other, "en") == ["language_mismatch"]
    text = reason(other, "language_mismatch", "en")
    assert "English (en)" in text and "German (de)" in text


@pytest.mark.parametrize("requested, detected", [(None, "de"), ("", "de"), ("EN", "en"),
                                                 ("en-US", "en"), ("en", "")])
def test_language_is_only_flagged_when_a_language_was_asked_and_another_came(requested, detected):
    assert codes(result(language=detected), requested) == []


def test_every_flag_has_a_code_and_a_readable_reason():
    bad = result(CLEAN + ["Thank you."] * 3, language="fr",
                 s0={"no_speech_prob": 0.8, "avg_logprob": -1.4, "compression_ratio": 2.9})
    flags = quality_flags(bad, "en")
    assert {f["code"] for f in flags} == {"repetition", "text_over_silence", "high_compression_ratio",
                                          "low_confidence_segments", "language_mismatch"}
    assert all(set(f) == {"code", "reason"} and len(f["reason"]) > 40 for f in flags)


@pytest.mark.parametrize("odd", [
    {}, {"segments": None}, {"segments": "nonsense"}, {"segments": [None, 3, "x"]},
    {"segments": [{"text": "no scores at all"}]},
    {"segments": [{"text": "hi", "avg_logprob": "low", "no_speech_prob": None,
                   "compression_ratio": float("nan"), "start": "soon"}]},
    {"language": 5, "segments": [{"text": None}]},
])
def test_odd_or_older_results_give_no_flags_rather_than_an_error(odd):
    assert quality_flags(odd, "en") == []


@pytest.mark.django_db(transaction=True)
def test_a_completed_outcome_stores_its_flags(alice, make_job):
    job = make_job(alice)
    looped = result(CLEAN[:1] + ["Thank you."] * 3, language="de", requested="en")
    name = services.job_store_output(job=job, result=looped)
    services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    stored = Job.objects.get(pk=job.pk).quality_flags
    assert [f["code"] for f in stored] == ["repetition", "language_mismatch"]

    clean_job = make_job(alice)
    services.job_record_outcome(job_pk=clean_job.pk, outcome=Outcome.completed(
        result=result(), output_name=services.job_store_output(job=clean_job, result=result())))
    assert Job.objects.get(pk=clean_job.pk).quality_flags == []
