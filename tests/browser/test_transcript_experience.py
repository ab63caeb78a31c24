"""Working with a transcript in a real browser, as a new person would: upload with word
timestamps, follow the recording word by word, move around with the mouse and the keys,
correct a name, find the correction with search, restore the machine's version; record from
a (fake) microphone; read a transcript on a phone and with the keyboard alone.

This file writes the screenshots in docs/screenshots/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_until
from tests.browser.test_upload_flow import queued_job_url, sign_up
from tests.conftest import ffmpeg, words

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TRANSCRIBED_IN_MS = 120_000
NEW_NAME = "Zanzibar"  # what "John" is corrected to: a word no recording here says
FORMATS = ["TXT", "SRT", "VTT", "JSON", "VERBOSE_JSON"]


@pytest.fixture(scope="module")
def meeting_ogg(window_wav, report_wav, tmp_path_factory) -> Path:
    """Two sentences with 1.5 s of silence between them, so the transcript has two segments:
    "Open the file, ... close the window." then "Please send the report to John by Friday."
    (the second starts about 5.4 s in)."""
    target = tmp_path_factory.mktemp("meeting") / "meeting.ogg"
    parts = [(window_wav, 1.5), (report_wav, 0.5)]
    inputs, filters = [], []
    for i, (part, pause) in enumerate(parts):
        inputs += ["-i", str(part)]
        filters.append(f"[{i}:a]aformat=sample_rates=16000:channel_layouts=mono,"
                       f"apad=pad_dur={pause}[a{i}]")
    ffmpeg(*inputs, "-filter_complex", ";".join(filters) + ";[a0][a1]concat=n=2:v=0:a=1[out]",
           "-map", "[out]", "-c:a", "libopus", "-b:a", "24k", str(target))
    return target


def screenshot(page: Page, name: str, **options) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name, **options)


def wait_for_time_near(page: Page, seconds: float, within: float = 0.4) -> None:
    wait_until(page,
        "([t, within]) => Math.abs(document.getElementById('player').currentTime - t) < within",
        arg=[seconds, within])


def set_time(page: Page, seconds: float) -> None:
    """Pause the player and put it at `seconds` (as dragging its slider would)."""
    page.locator("#player").evaluate("(p, t) => { p.pause(); p.currentTime = t; }", seconds)
    wait_for_time_near(page, seconds, 0.05)


def seek_by_clicking(page: Page, target) -> float:
    """Click `target`; where the player jumped to (read as it seeks, before it plays on)."""
    page.locator("#player").evaluate("""p => {
        window.__seekedTo = null;
        p.addEventListener("seeking", () => { window.__seekedTo = p.currentTime; }, {once: true});
    }""")
    target.click()
    wait_until(page, "window.__seekedTo !== null")
    return page.evaluate("window.__seekedTo")


def open_transcript(page: Page, job_url: str) -> None:
    page.goto(job_url)
    expect(page.locator("#job-status")).to_have_text("Completed")
    expect(page.locator("#segments .segment").first).to_be_visible()
    wait_until(page, "document.getElementById('player').readyState >= 1")  # metadata


def download(page: Page, job_url: str, fmt: str) -> str:
    response = page.request.get(f"{job_url}download.{fmt}")  # with the page's session
    assert response.ok, (fmt, response.status)
    return response.text()


def test_follow_correct_find_and_restore_a_transcript(new_context, report_wav, meeting_ogg):
    context = new_context()
    page = context.new_page()
    sign_up(page, "nora")

    # The dashboard waits in a second tab: the jobs reach it only over the websocket.
    dashboard = context.new_page()
    dashboard.goto("/")
    expect(dashboard.locator("body")).to_have_attribute("data-live", "connected")
    dashboard.evaluate("window.__noReload = 1")

    # Upload two recordings at once, with word timestamps.
    page.bring_to_front()
    page.goto("/upload/")
    expect(page.get_by_role("button", name="● Record from microphone")).to_be_enabled()
    expect(page.get_by_label("Names and jargon")).to_be_editable()
    page.get_by_label("Word timestamps").check()
    page.set_input_files("#id_file", [str(report_wav), str(meeting_ogg)])
    page.click("#upload-button")
    report_url = queued_job_url(page, "report.wav")  # progress 100, "Queued · open" (or further)
    job_url = queued_job_url(page, "meeting.ogg")
    job_id = re.fullmatch(r"/jobs/([0-9a-f-]{36})/", job_url)[1]
    screenshot(page, "upload.png")

    # Both finish on the dashboard without a reload.
    dashboard.bring_to_front()
    for url in (report_url, job_url):
        row = dashboard.locator(f'#jobs tr[data-job="{url.split("/")[2]}"]')
        expect(row.locator("[data-field=status]")).to_have_text("Completed", timeout=TRANSCRIBED_IN_MS)
    expect(dashboard.locator("#jobs tbody tr")).to_have_count(2)
    assert dashboard.evaluate("window.__noReload") == 1, "the dashboard was reloaded"
    screenshot(dashboard, "dashboard.png")

    # The transcript: two segments, each word its own span with its time.
    dashboard.locator(f'#jobs tr[data-job="{job_id}"]').get_by_role("link", name="meeting.ogg").click()
    page = dashboard  # this tab goes on to the transcript
    expect(page).to_have_url(re.compile(re.escape(job_url) + "$"))
    open_transcript(page, job_url)
    segments = page.locator("#segments .segment")
    expect(segments).to_have_count(2)
    first, second = segments.nth(0), segments.nth(1)
    assert "window" in words(first.locator(".text").inner_text())
    assert {"report", "john", "friday"} <= set(words(second.locator(".text").inner_text()))
    second_start = float(second.get_attribute("data-start"))
    assert second_start > 4, second_start  # after the first sentence and the pause
    john = second.locator(".word").filter(has_text="John")
    expect(john).to_have_count(1)
    john_start = float(john.get_attribute("data-start"))
    assert second_start < john_start < float(second.get_attribute("data-end"))

    # Clicking a segment (its time) plays from its start; clicking a word, from that word.
    set_time(page, 0.0)
    assert seek_by_clicking(page, second.locator(".time")) == pytest.approx(second_start, abs=0.05)
    wait_until(page, "!document.getElementById('player').paused")  # and it plays
    expect(second).to_have_class(re.compile(r"\bcurrent\b"))
    expect(first).not_to_have_class(re.compile(r"\bcurrent\b"))
    set_time(page, 0.0)
    assert seek_by_clicking(page, john) == pytest.approx(john_start, abs=0.05)
    set_time(page, john_start + 0.05)  # hold still on "John": it is the word being said
    expect(john).to_have_class(re.compile(r"\bcurrent-word\b"))
    expect(page.locator(".word.current-word")).to_have_count(1)

    # Keys: Space plays and pauses; the arrows go to the next and previous segment.
    page.locator("h1").click()  # the focus on the page itself, not on a button
    page.keyboard.press("Space")
    wait_until(page, "!document.getElementById('player').paused")
    page.keyboard.press("Space")
    wait_until(page, "document.getElementById('player').paused")
    set_time(page, 1.0)
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("ArrowDown")
    wait_for_time_near(page, second_start, 0.1)
    expect(second).to_have_class(re.compile(r"\bcurrent\b"))
    expect(first).not_to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("ArrowUp")
    wait_for_time_near(page, float(first.get_attribute("data-start")), 0.1)
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    expect(second).not_to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("ArrowDown")
    expect(second).to_have_class(re.compile(r"\bcurrent\b"))

    # E edits the current segment: "John" becomes the new name, saved as version 1.
    page.keyboard.press("e")
    editor = second.locator(".editor textarea")
    expect(editor).to_be_focused()
    machine_text = editor.input_value()
    assert "John" in machine_text, machine_text
    editor.fill(machine_text.replace("John", NEW_NAME))
    second.locator(".editor .save").click()
    expect(page.locator("#edit-state")).to_contain_text("Saved as version 1")
    expect(second.locator(".text")).to_contain_text(NEW_NAME)
    expect(second.locator(".editor")).to_have_count(0)

    # Every download holds the correction; the browser saves the SRT under the file's name.
    toolbar = page.get_by_role("toolbar", name="Transcript actions")
    for fmt in FORMATS:
        link = toolbar.get_by_role("link", name=fmt, exact=True)
        assert link.get_attribute("href") == f"{job_url}download.{fmt.lower()}"
        assert NEW_NAME in download(page, job_url, fmt.lower()), fmt
    srt = download(page, job_url, "srt")
    assert "John" not in srt and "window" in srt, srt
    with page.expect_download() as saved:
        toolbar.get_by_role("link", name="SRT", exact=True).click()
    assert saved.value.suggested_filename == "meeting.srt"

    # After a reload: the change against the machine's words, and two versions.
    page.reload()
    open_transcript(page, job_url)
    changes = page.locator("#changes")
    expect(changes).to_have_attribute("open", "")
    expect(changes.locator(".diff-removed")).to_have_text("John")
    expect(changes.locator(".diff-added")).to_have_text(NEW_NAME)
    history = page.locator("#history")
    history.locator("summary").click()
    expect(history.locator("summary")).to_have_text("Versions (2)")
    expect(history.locator(".versions li")).to_have_count(2)
    # The picture: the first segment playing, on the word "changes", with both panels open.
    set_time(page, float(first.locator(".word").filter(has_text="changes").get_attribute("data-start")) + 0.05)
    expect(page.locator(".word.current-word")).to_have_text(re.compile("changes"))
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "transcript.png", full_page=True)

    # Search: the other recording still says John; the new name is found in this one only,
    # marked, with a link to its moment.
    page.goto("/search/?q=john")
    expect(page.locator(".hit .hit-title")).to_have_text(["report.wav"])
    page.goto(f"/search/?q={NEW_NAME.lower()}")
    hits = page.locator(".hit")
    expect(hits).to_have_count(1)
    expect(hits.locator(".hit-title")).to_have_text("meeting.ogg")
    expect(hits.locator("mark")).to_have_text(NEW_NAME)
    link = hits.locator(".hit-title").get_attribute("href")
    match = re.fullmatch(re.escape(job_url) + r"#t=([\d.]+)", link)
    assert match and float(match[1]) == pytest.approx(second_start), link
    screenshot(page, "search.png")
    hits.locator(".hit-title").click()
    expect(page).to_have_url(re.compile(re.escape(link) + "$"))
    wait_until(page, "document.getElementById('player').readyState >= 1")
    wait_for_time_near(page, second_start, 0.3)  # the player waits at the moment found
    expect(page.locator("#segments .segment").nth(1)).to_have_class(re.compile(r"\bcurrent\b"))

    # Restore the machine's version (0): the name is John again, and history keeps all three.
    history = page.locator("#history")
    history.locator("summary").click()
    history.locator("li").filter(has_text="Version 0").get_by_role("button", name="Restore").click()
    expect(page).to_have_url(re.compile(re.escape(job_url) + "$"))
    expect(page.locator("#history summary")).to_have_text("Versions (3)")
    expect(page.locator("#history .versions li")).to_have_count(3)
    expect(page.locator("#history .versions li").first).to_contain_text("restored from version 0")
    expect(page.locator("#changes")).to_contain_text("No corrections yet")
    srt = download(page, job_url, "srt")
    assert "John" in srt and NEW_NAME not in srt, srt
    expect(page.locator("#segments .segment").nth(1).locator(".text")).to_contain_text("John")


def test_record_from_the_microphone(new_context):
    page = new_context().new_page()
    sign_up(page, "rosa")
    page.goto("/upload/")
    page.get_by_label("Names and jargon").fill(NEW_NAME)  # nothing to mishear in a tone
    record = page.locator("#record-button")
    record.click()  # Chromium's fake microphone: a beeping tone, no permission prompt
    expect(record).to_have_attribute("aria-pressed", "true")
    expect(record).to_have_text("■ Stop and upload")
    expect(page.locator("#record-state")).to_have_text("Recording… 2 s")
    record.click()
    expect(record).to_have_attribute("aria-pressed", "false")

    row = page.locator("#uploads li.upload")
    expect(row).to_have_count(1)
    name = row.locator(".name").inner_text()
    assert re.fullmatch(r"recording-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.webm", name), name
    job_url = queued_job_url(page, name)

    # A tone has no words: the job ends either way, and a failure says why.
    page.goto("/")
    status = page.locator(f'#jobs tr[data-job="{job_url.split("/")[2]}"] [data-field=status]')
    expect(status).to_have_text(re.compile("^(Completed|Failed)$"), timeout=TRANSCRIBED_IN_MS)
    page.goto(job_url)
    if page.locator("#job-status").inner_text() == "Failed":
        reason = page.locator(".failure p").inner_text()
        assert len(words(reason)) >= 3, reason
    else:
        document = json.loads(download(page, job_url, "json"))
        assert 1.0 < document["duration"] < 5.0, document["duration"]
        assert document["options"]["initial_prompt"] == NEW_NAME  # the field reached Whisper


def test_a_transcript_on_a_phone_and_with_the_keyboard_alone(new_context, report_wav):
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_up(page, "pat")
    page.goto("/upload/")
    page.get_by_label("Word timestamps").check()
    page.set_input_files("#id_file", [str(report_wav)])
    page.click("#upload-button")
    job_url = queued_job_url(page, "report.wav")
    page.goto(job_url)  # it reloads itself when the transcript is ready
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=TRANSCRIBED_IN_MS)
    open_transcript(page, job_url)

    # Keyboard alone: Tab reaches the player, every download and the first segment's time,
    # each with a name a screen reader can say.
    reached = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const el = document.activeElement;
            return {id: el.id, tag: el.tagName, cls: el.className,
                    name: (el.getAttribute('aria-label') || el.textContent).trim()}; }""")
        if focused["id"] == "player":
            reached.setdefault("player", focused["name"])
        elif focused["tag"] == "A" and focused["name"] in FORMATS:
            reached.setdefault(focused["name"], focused["name"])
        elif focused["id"] == "copy-text":
            reached.setdefault("copy", focused["name"])
        elif focused["cls"] == "time":
            reached["time"] = focused["name"]
            break
    assert reached.keys() >= {"player", *FORMATS, "copy", "time"}, reached
    assert reached["player"] == "Recording"
    assert reached["time"] == "Play from 0.0 seconds"
    page.keyboard.press("Enter")  # on the segment's time: play from there
    wait_until(page, "!document.getElementById('player').paused")
    page.locator("#player").evaluate("p => p.pause()")
    page.locator("#copy-text").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#copy-state")).to_have_text("Copied.")
    assert "Friday" in page.evaluate("navigator.clipboard.readText()")

    # A phone: nothing wider than the screen, and the Edit button in sight without hovering.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    open_transcript(page, job_url)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), \
        page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    expect(page.locator("#segments .segment .edit").first).to_be_visible()
    set_time(page, float(page.locator(".word").nth(5).get_attribute("data-start")) + 0.05)
    expect(page.locator(".word.current-word")).to_have_count(1)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "transcript-phone.png")
