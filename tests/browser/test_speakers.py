"""Speakers in a real browser: upload a two-person conversation asking for speakers, read it
by turns, name a speaker, narrow the transcript to one speaker, move a segment to the other
speaker, and find both corrections in the downloads (read back with real SubRip and WebVTT
parsers), in search and in Changes; restoring the machine's version undoes them.

This file writes docs/screenshots/speakers*.png and upload-speakers.png."""

from __future__ import annotations

import re

import pytest
import srt
import webvtt
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_until
from tests.browser.test_transcript_experience import download, screenshot
from tests.browser.test_upload_flow import queued_job_url, sign_up
from tests.conftest import SENTENCES, words
from tests.media_samples import dialogue

TRANSCRIBED_IN_MS = 180_000
NAME = "Dr. Lee"
# Who says what: the low voice opens, so it is Speaker 1.
TURNS = [("low", SENTENCES["report"]), ("high", SENTENCES["morning"]),
         ("low", SENTENCES["window"]), ("high", SENTENCES["report"]),
         ("low", SENTENCES["morning"]), ("high", SENTENCES["window"])]


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    return dialogue(tmp_path_factory.mktemp("conversation") / "interview.wav", TURNS)


@pytest.fixture(scope="module")
def speakers_found(model_server, conversation):
    """The model server's side of speakers is tested in tests/model_container; this test
    needs it to answer with speakers, and says so plainly where it does not (yet)."""
    answer = model_server.invoke(conversation, attributes="diarize=true;speakers=2").json()
    if "speakers" not in answer:
        pytest.skip("the model server answered without speakers: it does not attribute them yet")


def speakers_of_rows(page: Page) -> list[str]:
    return page.locator("#segments .segment").evaluate_all("rows => rows.map(r => r.dataset.speaker)")


def text_of(page: Page, speaker: str) -> list[str]:
    texts = page.locator(f'#segments .segment[data-speaker="{speaker}"] .text').all_text_contents()
    return words(" ".join(texts))


def test_speakers_read_by_turns_named_moved_and_exported(new_context, conversation, speakers_found):
    page = new_context().new_page()
    sign_up(page, "interviewer")
    page.goto("/upload/")
    page.check("#id_word_timestamps")
    page.check("#id_diarize")
    page.fill("#id_speakers", "2")
    screenshot(page, "upload-speakers.png", full_page=True)
    page.set_input_files("#id_file", str(conversation))
    page.click("#upload-button")
    job_url = queued_job_url(page, "interview.wav")

    # Read by turns: two speakers, each in a colour of their own, named where a turn begins.
    page.goto(job_url)
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=TRANSCRIBED_IN_MS)
    legend = page.locator("#speakers .speaker-item")
    expect(legend).to_have_count(2)
    expect(legend.locator(".speaker-name")).to_have_text(["Speaker 1", "Speaker 2"])
    expect(legend.first).to_contain_text(re.compile(r"talks 0:\d\d · \d+ %"))
    assert set(speakers_of_rows(page)) == {"S1", "S2"}
    first_turn = page.locator("#segments .segment.turn").first
    expect(first_turn.locator(".who")).to_have_text("Speaker 1")
    assert {"report", "john", "friday"} <= set(text_of(page, "S1"))  # what the low voice said
    assert {"good", "morning"} <= set(text_of(page, "S2"))
    colours = page.locator("#segments .segment.turn").evaluate_all(
        "rows => rows.map(r => getComputedStyle(r).borderLeftColor)")
    assert len(set(colours)) == 2
    screenshot(page, "speakers.png", full_page=True)

    # Name Speaker 2 once: everywhere on the page, as a new version.
    legend.nth(1).get_by_role("button", name="Rename").click()
    legend.nth(1).get_by_label("New name").fill(NAME)
    legend.nth(1).get_by_role("button", name="Save").click()
    expect(page.locator("#speaker-state")).to_contain_text("Saved as version 1")
    expect(legend.locator(".speaker-name")).to_have_text(["Speaker 1", NAME])
    expect(page.locator('#segments .segment[data-speaker="S2"].turn .who').first).to_have_text(NAME)
    expect(page.locator('#segments .segment[data-speaker="S2"] .who').first).to_have_text(NAME)

    # Only Dr. Lee's segments.
    legend.nth(1).get_by_role("button", name=f"Show only {NAME}").click()
    expect(page.locator("#speaker-filter")).to_contain_text(f"Showing only {NAME}")
    visible = page.locator("#segments .segment:visible")
    assert set(visible.evaluate_all("rows => rows.map(r => r.dataset.speaker)")) == {"S2"}
    screenshot(page, "speakers-only.png", full_page=True)
    page.get_by_role("button", name="Show everyone").click()
    expect(page.locator("#segments .segment[data-speaker='S1']").first).to_be_visible()

    # Move the first segment (Speaker 1's "Please send the report...") to Dr. Lee.
    first = page.locator("#segments .segment").first
    first_words = words(first.locator(".text").text_content())
    first.locator(".who").click()
    first.get_by_label("Said by").select_option(label=NAME)
    first.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#edit-state")).to_contain_text("Saved as version 2")
    first = page.locator("#segments .segment").first
    expect(first).to_have_attribute("data-speaker", "S2")
    expect(first.locator(".who")).to_have_text(NAME)
    changes = page.locator("#changes")
    expect(changes).to_contain_text(f"Speaker 2 is named {NAME}")
    expect(changes).to_contain_text(f"moved from Speaker 1 to {NAME}")
    expect(page.locator("#history")).to_contain_text(f"named Speaker 2 {NAME}")
    screenshot(page, "speakers-corrected.png", full_page=True)

    # The downloads say it: TXT paragraphs per turn, VTT voices, SRT names where turns begin.
    txt = download(page, job_url, "txt")
    paragraphs = txt.strip().split("\n\n")
    assert paragraphs[0].startswith(f"{NAME}: ") and first_words[:3] == words(paragraphs[0])[2:5]
    assert any(p.startswith("Speaker 1: ") for p in paragraphs)
    assert all(re.match(rf"({re.escape(NAME)}|Speaker 1): ", p) for p in paragraphs)

    vtt = webvtt.from_string(download(page, job_url, "vtt"))
    assert {c.voice for c in vtt} == {NAME, "Speaker 1"} and vtt[0].voice == NAME
    srt_cues = list(srt.parse(download(page, job_url, "srt")))
    assert srt_cues[0].content.startswith(f"{NAME}: ")
    assert any(c.content.startswith("Speaker 1: ") for c in srt_cues)
    for cues in ([c.text for c in vtt], [c.content for c in srt_cues]):
        for text in cues:
            assert len(text.split("\n")) <= 2 and all(len(line) <= 42 for line in text.split("\n")), text
    assert all((c.end - c.start).total_seconds() <= 7.0 for c in srt_cues)

    # Search shows who said it.
    page.goto("/search/?q=friday")
    expect(page.locator(".hit").first.locator(".hit-speaker")).to_have_text(f"{NAME}:")

    # Restoring the machine's version takes both corrections back.
    page.goto(job_url)
    page.locator("#history summary").click()
    page.locator("#history li").filter(has_text="Version 0").get_by_role("button", name="Restore").click()
    expect(page.locator("#speakers .speaker-name")).to_have_text(["Speaker 1", "Speaker 2"])
    expect(page.locator("#segments .segment").first).to_have_attribute("data-speaker", "S1")
    assert NAME not in download(page, job_url, "txt")
    wait_until(page, "document.getElementById('segments').dataset.ready === '1'")
