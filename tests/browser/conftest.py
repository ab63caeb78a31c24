"""The web app as a person meets it: `manage.py runlocal` in its own process (its own
database and media in a temporary VAR_DIR, the real model server behind it) and Debian's
Chromium driven by Playwright's sync API.

These tests run as their own pytest invocation (Playwright's sync API cannot share a process
with the async tests):

    .venv/bin/python -m pytest tests/browser -p no:asyncio -p no:django \
        -o addopts="-ra -p no:cacheprovider"
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import sync_playwright

from devtools.servers import start_web_app

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1200, "height": 800}


@pytest.fixture(scope="session")
def web_app(model_server, tmp_path_factory):
    """`runlocal --no-model-server` on a free port, sending jobs to the real model server."""
    app = start_web_app(tmp_path_factory.mktemp("var"), model_server.url)
    yield app
    app.stop()  # terminate, then kill


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  # A fake microphone (a beeping tone) that needs no permission prompt.
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser, web_app):
    """Makes fresh browser profiles (each its own cookies: its own person) for the app."""
    contexts = []

    def make():
        context = browser.new_context(base_url=web_app.url, viewport=VIEWPORT)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def wait_until(page, expression: str, arg=None, timeout: float = 30.0) -> None:
    """Like page.wait_for_function, but polled from here through page.evaluate: the pages'
    Content-Security-Policy forbids eval, which Playwright's in-page polling of a string
    needs, while evaluate goes through the browser's debugging protocol."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:.0f} s: {expression}")
        time.sleep(0.05)
