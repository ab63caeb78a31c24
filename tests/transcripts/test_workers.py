"""The background workers: the loop they share, the command that runs them, and the web
process's lifespan that starts and stops them."""

from __future__ import annotations

import asyncio

import pytest
from django.core.management import CommandError, call_command

from transcripts.asgi import WorkersLifespan
from transcripts.workers.loop import Loop

# ---------------------------------------------------------------- the loop


async def test_a_loop_steps_again_at_once_while_there_is_work_and_stops_on_its_signal():
    stop, done = asyncio.Event(), []

    def step():
        done.append(1)
        if len(done) == 5:
            stop.set()  # asked to stop during a step: that step still finishes
        return 1

    await asyncio.wait_for(Loop("test", step, idle_seconds=60).run(stop), timeout=5)
    assert len(done) == 5


async def test_a_step_that_raises_is_logged_and_tried_again_shortly(caplog):
    stop, calls = asyncio.Event(), []

    def step():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        stop.set()
        return 0

    await asyncio.wait_for(Loop("test", step, idle_seconds=60).run(stop), timeout=5)
    assert len(calls) == 2  # after a second, not after the 60 s idle poll
    assert "test: a step failed" in caplog.text and "database is locked" in caplog.text


async def test_a_wake_up_ends_the_idle_wait():
    stop, wake, calls = asyncio.Event(), asyncio.Event(), []

    def step():
        calls.append(1)
        if len(calls) == 2:
            stop.set()
        return 0

    runner = asyncio.create_task(Loop("test", step, idle_seconds=60, wake=wake).run(stop))
    await asyncio.sleep(0.2)
    wake.set()
    await asyncio.wait_for(runner, timeout=5)
    assert len(calls) == 2


# ---------------------------------------------------------------- manage.py work

@pytest.mark.django_db
def test_the_work_command_names_the_workers_when_one_is_unknown():
    with pytest.raises(CommandError, match="no worker mailer; the workers are dispatcher, outcome_sync"):
        call_command("work", "mailer", "--once")


@pytest.mark.django_db
def test_the_outcome_sync_says_which_backend_it_serves(settings):
    settings.TRANSCRIBE_BACKEND = "local"
    with pytest.raises(CommandError, match="serves TRANSCRIBE_BACKEND=aws"):
        call_command("work", "outcome_sync", "--once")


# ---------------------------------------------------------------- the web process

@pytest.fixture
def lifespan(settings, monkeypatch):
    """The web process's lifespan with stand-in workers that wait for their stop signal."""
    settings.WORKERS_IN_WEB = True
    started, stopped = [], []

    async def workers(names, stop):
        started.extend(names)
        await stop.wait()  # a worker ends after its current step once asked to stop
        stopped.extend(names)

    monkeypatch.setattr("transcripts.asgi.run_workers", workers)
    app = WorkersLifespan()
    app.messages, app.sent, app.started, app.stopped = asyncio.Queue(), [], started, stopped
    return app


async def _start(lifespan) -> asyncio.Task:
    async def send(message):
        lifespan.sent.append(message["type"])

    server = asyncio.create_task(lifespan({"type": "lifespan"}, lifespan.messages.get, send))
    await lifespan.messages.put({"type": "lifespan.startup"})
    while "lifespan.startup.complete" not in lifespan.sent:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    return server


async def test_the_lifespan_starts_the_workers_and_stops_them_cleanly(lifespan):
    server = await _start(lifespan)
    assert lifespan.started == ["dispatcher", "webhook_delivery"] and not lifespan.task.done()
    await lifespan.messages.put({"type": "lifespan.shutdown"})
    await server
    # Stopped by their signal, not cancelled: nothing is left half done, no traceback.
    assert lifespan.stopped == lifespan.started
    assert lifespan.task.done() and not lifespan.task.cancelled()
    assert lifespan.sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_a_second_ctrl_c_stops_the_workers_without_a_traceback(lifespan):
    """uvicorn skips the shutdown message on a second Ctrl-C and cancels the lifespan: the
    workers are told to stop, and the lifespan ends quietly (uvicorn logs any exception)."""
    server = await _start(lifespan)
    server.cancel()
    await server  # returns: no CancelledError for uvicorn to print
    assert lifespan.stop.is_set()
