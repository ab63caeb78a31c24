"""A new person's whole path through the app, in a real browser: sign up, upload a recording
(and a file that is not one), watch the job finish live on the dashboard, read the transcript
and jump around in it; and another person who cannot see any of it."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_until
from tests.conftest import words

PASSWORD = "correct-horse-battery-42"
TRANSCRIBED_IN_MS = 120_000


def sign_up(page: Page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/$"))  # signed up, logged in, on the dashboard
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()


def upload(page: Page, *files: Path) -> None:
    page.goto("/upload/")
    page.set_input_files("#id_file", [str(f) for f in files])
    page.click("#upload-button")


def upload_row(page: Page, name: str):
    return page.locator("#uploads li.upload").filter(has=page.locator(".name", has_text=name))


def queued_job_url(page: Page, name: str) -> str:
    """Wait for the file's row to say it was accepted (then it follows its job: queued,
    processing, completed); the job page it links to."""
    row = upload_row(page, name)
    expect(row.locator(".state")).to_have_text(re.compile(r"^(Queued|Processing|Completed)\b.* · open$"))
    expect(row.locator("progress")).to_have_js_property("value", 100)
    return row.get_by_role("link", name="open").get_attribute("href")


def test_upload_watch_live_and_read_the_transcript(new_context, report_wav, tmp_path):
    context = new_context()
    page = context.new_page()
    sign_up(page, "alice")

    # The dashboard is open in a second tab before anything is uploaded: the job's row and
    # every change of its status can only reach it over the websocket.
    dashboard = context.new_page()
    dashboard.goto("/")
    expect(dashboard.locator("body")).to_have_attribute("data-live", "connected")
    expect(dashboard.locator("#jobs tr.empty")).to_contain_text("No jobs yet")
    dashboard.evaluate("window.__noReload = 1")

    # Two files at once: the recording, and notes that only pretend to be an mp3.
    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("These are my meeting notes, not a recording.\n")
    upload(page, report_wav, not_audio)
    job_url = queued_job_url(page, "report.wav")
    job_id = re.fullmatch(r"/jobs/([0-9a-f-]{36})/", job_url)[1]
    refused = upload_row(page, "notes.mp3")
    expect(refused).to_have_class(re.compile(r"\bfailed\b"))
    expect(refused.locator(".state")).to_have_text(
        re.compile(r"^Refused: notes\.mp3: this file is not audio"))

    # The job appears and finishes on the dashboard without the page being reloaded.
    dashboard.bring_to_front()
    row = dashboard.locator(f'#jobs tr[data-job="{job_id}"]')
    expect(row.locator("[data-field=status]")).to_have_text("Completed", timeout=TRANSCRIBED_IN_MS)
    assert dashboard.evaluate("window.__noReload") == 1, "the dashboard was reloaded"
    expect(row.get_by_role("link", name="report.wav")).to_be_visible()
    expect(row.locator("[data-field=language]")).to_have_text("en")
    expect(dashboard.locator("#jobs tbody tr")).to_have_count(1)  # the refused file made no job

    # The transcript page: the words said, and a player that follows the segments.
    row.get_by_role("link", name="report.wav").click()
    expect(dashboard).to_have_url(re.compile(re.escape(job_url) + "$"))
    expect(dashboard.locator("#job-status")).to_have_text("Completed")
    segments = dashboard.locator("#segments .segment")
    expect(segments.first).to_be_visible()
    said = words(" ".join(segments.locator(".text").all_inner_texts()))
    assert {"report", "john", "friday"} <= set(said), said

    player = dashboard.locator("#player")
    wait_until(dashboard, "document.getElementById('player').readyState >= 1")  # metadata
    duration = player.evaluate("p => p.duration")
    assert 1 < duration < 10, duration
    segment = segments.last
    start = float(segment.get_attribute("data-start"))
    elsewhere = 0.0 if start >= 1 else duration - 0.1  # a place at least 1 s from the segment
    player.evaluate("(p, t) => { p.currentTime = t; }", elsewhere)
    assert abs(player.evaluate("p => p.currentTime") - start) >= 1
    segment.click()
    wait_until(dashboard,
        "start => Math.abs(document.getElementById('player').currentTime - start) < 0.5", arg=start)
    expect(segment).to_have_class(re.compile(r"\bcurrent\b"))
    player.evaluate("p => p.pause()")


def test_another_persons_job_is_not_found(new_context, report_wav):
    owner = new_context().new_page()
    sign_up(owner, "olivia")
    upload(owner, report_wav)
    job_url = queued_job_url(owner, "report.wav")

    other = new_context().new_page()
    sign_up(other, "oscar")
    other.get_by_role("button", name="Log out oscar").click()
    log_in(other, "oscar")

    response = other.goto(job_url)
    assert response.status == 404
    expect(other.locator("body")).not_to_contain_text("report.wav")
    for part in ("audio/", "status/", "download.txt"):
        assert other.request.get(job_url + part).status == 404, part
    other.goto("/")
    expect(other.locator("#jobs tr[data-job]")).to_have_count(0)
