"""A long recording followed live in a real browser (issue 15): the upload page's row goes
from Queued through Processing N % to Completed; the job page shows the stage, a progress
bar that rises and the first segments, readable and playable, before the job completes;
then the final transcript takes the partial one's place without a reload, the player
playing on and the reader where they were. The dashboard shows the share done."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_until
from tests.browser.test_transcript_experience import screenshot
from tests.browser.test_upload_flow import queued_job_url, sign_up, upload, upload_row
from tests.conftest import SHARED_AUDIO, words
from tests.media_samples import long_recording

TRANSCRIBED_IN_S = 300

# Every change the job page makes, as the reader would see it then: installed in the page
# (through the debugging protocol: the page's CSP forbids eval) before anything arrives.
WATCH = """() => {
  window.__seen = [];
  const look = () => {
    const list = document.getElementById("segments");
    const below = document.querySelector(".player-bar").getBoundingClientRect().bottom;
    const rows = list ? Array.from(list.querySelectorAll(".segment")) : [];
    const top = rows.find((r) => r.getBoundingClientRect().bottom > below);
    window.__seen.push({
      final: document.body.dataset.transcript === "final",
      partial: list?.dataset.partial === "1",
      seconds: Number(document.getElementById("progress")?.dataset.seconds || 0),
      bar: document.getElementById("progress-bar")?.value ?? null,
      segments: rows.length,
      playing: !document.getElementById("player").paused,
      top: top ? { start: Number(top.dataset.start), y: top.getBoundingClientRect().top } : null,
    });
  };
  new MutationObserver(look).observe(document.querySelector("main"), { subtree: true, childList: true, attributes: true });
  window.addEventListener("scroll", look, { passive: true });
  // A reader who is reading: the page must not pull the transcript away from them.
  setInterval(() => window.dispatchEvent(new Event("scroll")), 400);
  window.__noReload = 1;
}"""


@pytest.fixture(scope="module")
def lecture(tmp_path_factory) -> Path:
    """Six minutes: on two cores tiny.en takes about half a minute over it, time enough to
    look at every page while it runs."""
    shared = SHARED_AUDIO if SHARED_AUDIO.exists() else None
    return long_recording(tmp_path_factory.mktemp("long") / "lecture.flac", minutes=6, shared_audio=shared)


def test_a_long_recording_is_followed_live_to_its_transcript(new_context, lecture, tmp_path):
    context = new_context()
    page = context.new_page()
    sign_up(page, "lena")
    dashboard = context.new_page()
    dashboard.goto("/")
    expect(dashboard.locator("body")).to_have_attribute("data-live", "connected")

    page.bring_to_front()
    upload(page, lecture)
    job_url = queued_job_url(page, "lecture.flac")
    job = context.new_page()
    job.set_viewport_size({"width": 1000, "height": 600})
    job.goto(job_url)
    job.evaluate(WATCH)

    # The first segments, readable before the job completes, and the stage and bar.
    wait_until(job, "document.querySelectorAll('#segments .segment').length >= 3", timeout=TRANSCRIBED_IN_S)
    assert job.locator("#job-status").inner_text() == "Processing"
    expect(job.locator("#progress-stage")).to_have_text(re.compile("Transcribing|Waiting"))
    expect(job.locator("#progress-text")).to_have_text(re.compile(r"\d+:\d\d of \d+:\d\d \(\d+ %\)"))
    screenshot(job, "progress-job.png")

    # A partial segment plays like a final one; the reader scrolls down to read on.
    job.locator("#segments .segment").first.click()
    wait_until(job, "!document.getElementById('player').paused")
    job.locator("#segments .segment").nth(2).evaluate(
        "row => window.scrollBy(0, row.getBoundingClientRect().top"
        " - document.querySelector('.player-bar').getBoundingClientRect().bottom - 10)")
    job.evaluate("document.getElementById('player').__same = 1")

    # Meanwhile the dashboard shows the share done, and the upload page's row too.
    dashboard.bring_to_front()
    expect(dashboard.locator("[data-field=progress]").first).to_have_text(re.compile(r"^\d+ %"))
    dashboard.screenshot(path=tmp_path / "progress-dashboard.png")
    page.bring_to_front()
    expect(upload_row(page, "lecture.flac").locator(".state")).to_have_text(re.compile(r"^Processing \d+ % · open$"))
    page.screenshot(path=tmp_path / "progress-upload.png")
    job.bring_to_front()

    # Completion: the final transcript, in place.
    wait_until(job, "document.body.dataset.transcript === 'final'", timeout=TRANSCRIBED_IN_S)
    expect(job.locator("#job-status")).to_have_text("Completed")
    assert job.evaluate("window.__noReload") == 1, "the page was reloaded"
    assert job.evaluate("document.getElementById('player').__same") == 1, "the player was replaced"
    assert job.evaluate("!document.getElementById('player').paused"), "the player stopped"
    seen = job.evaluate("window.__seen")
    before = [s for s in seen if not s["final"]]
    after = [s for s in seen if s["final"]]
    # Rising progress and segments while it ran, every one of them before completion.
    seconds = [s["seconds"] for s in before]
    assert len(set(seconds)) >= 3 and seconds == sorted(seconds), seconds
    counts = [s["segments"] for s in before if s["partial"]]
    assert max(counts) >= 3 and counts[0] <= max(counts), counts
    assert all(s["playing"] for s in before[-3:] + after[:1])
    # The reader's place: the segment at the top of what they saw stays where it was.
    last, first_final = before[-1]["top"], after[0]["top"]
    assert last and first_final and abs(first_final["start"] - last["start"]) < 8, (last, first_final)
    assert abs(first_final["y"] - last["y"]) < 40, (last, first_final)

    # The final transcript: editable, downloadable, the words said.
    segments = job.locator("#segments .segment")
    assert job.locator("#segments").get_attribute("data-partial") is None
    expect(job.get_by_role("link", name="SRT")).to_be_visible()
    said = set(words(" ".join(segments.evaluate_all("rows => rows.map(r => r.textContent)"))))
    assert {"section", "report", "friday"} <= said, sorted(said)[:40]
    job.screenshot(path=tmp_path / "progress-final.png")

    # The upload page's row and the dashboard reached Completed by themselves too.
    expect(upload_row(page, "lecture.flac").locator(".state")).to_have_text("Completed · open")
    expect(dashboard.locator("[data-field=status]").first).to_have_text("Completed")
    page.screenshot(path=tmp_path / "completed-upload.png")
    job.locator("#player").evaluate("p => p.pause()")
