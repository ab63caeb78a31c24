"""Live updates over the websocket: only the owner hears about a job."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import services
from transcripts.routing import websocket_urlpatterns
from webapp.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


def as_user(user, path="/ws/jobs/"):
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    communicator.scope["user"] = user
    return communicator


async def test_anonymous_visitors_are_turned_away():
    communicator = WebsocketCommunicator(application, "/ws/jobs/", headers=ORIGIN)
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_a_foreign_origin_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/jobs/",
                                         headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_the_owner_hears_each_status_change_and_nobody_else_does(alice, bob, make_job):
    job = await database_sync_to_async(make_job)(alice, name="standup.wav")
    alices, bobs = as_user(alice), as_user(bob)
    assert (await alices.connect())[0] and (await bobs.connect())[0]

    await database_sync_to_async(services.job_claim_next)(lease_seconds=60)
    event = await alices.receive_json_from(timeout=2)
    assert event["type"] == "job" and event["job"]["public_id"] == str(job.public_id)
    assert event["job"]["status"] == "processing" and event["job"]["original_name"] == "standup.wav"

    def complete():
        name = services.job_store_output(job=job, result=make_result("hello there"))
        services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    await database_sync_to_async(complete)()
    event = await alices.receive_json_from(timeout=2)
    assert event["job"]["status"] == "completed" and event["job"]["duration"] == 2.5

    assert await bobs.receive_nothing(timeout=0.3)
    await alices.disconnect()
    await bobs.disconnect()


async def test_following_someone_elses_job_is_a_404(alice, bob, make_job):
    job = await database_sync_to_async(make_job)(alice)
    connected, code = await as_user(bob, f"/ws/jobs/{job.public_id}/").connect()
    assert not connected and code == 4404
    mine = as_user(alice, f"/ws/jobs/{job.public_id}/")
    assert (await mine.connect())[0]
    await mine.disconnect()


async def test_a_job_page_hears_only_its_job(alice, make_job):
    one = await database_sync_to_async(make_job)(alice, name="one.wav")
    await database_sync_to_async(make_job)(alice, name="two.wav")
    follower = as_user(alice, f"/ws/jobs/{one.public_id}/")
    await follower.connect()
    await database_sync_to_async(services.job_claim_next)(lease_seconds=60)  # claims one
    await database_sync_to_async(services.job_claim_next)(lease_seconds=60)  # claims two
    event = await follower.receive_json_from(timeout=2)
    assert event["job"]["original_name"] == "one.wav"
    assert await follower.receive_nothing(timeout=0.3)
    await follower.disconnect()


async def test_a_page_that_connects_late_hears_where_its_jobs_stand(alice, bob, make_job):
    """A clip can finish between the page's render and its socket joining the group: the
    page asks on connect and hears the outcome it would otherwise have missed."""
    finished = await database_sync_to_async(make_job)(alice, name="short.webm")
    gone = await database_sync_to_async(make_job)(alice, name="gone.wav")
    bobs_job = await database_sync_to_async(make_job)(bob, name="bobs.wav")

    def finish_one_delete_other():
        services.job_claim_next(lease_seconds=60)
        name = services.job_store_output(job=finished, result=make_result("hello there"))
        services.job_record_outcome(job_pk=finished.pk, outcome=stored_outcome(name))
        services.job_delete(job=gone)
    await database_sync_to_async(finish_one_delete_other)()

    alices = as_user(alice)
    assert (await alices.connect())[0]
    await alices.send_json_to({"type": "sync", "jobs": [
        str(finished.public_id), str(gone.public_id), str(bobs_job.public_id), "not-a-job"]})
    first = await alices.receive_json_from(timeout=2)
    assert first["type"] == "job" and first["job"]["status"] == "completed"
    assert first["job"]["original_name"] == "short.webm"
    # A deleted job and someone else's job get the same answer: nothing to show.
    assert await alices.receive_json_from(timeout=2) == {"type": "deleted", "public_id": str(gone.public_id)}
    assert await alices.receive_json_from(timeout=2) == {"type": "deleted", "public_id": str(bobs_job.public_id)}
    assert await alices.receive_nothing(timeout=0.3)
    await alices.disconnect()


async def test_a_job_page_syncs_only_its_own_job(alice, make_job):
    one = await database_sync_to_async(make_job)(alice, name="one.wav")
    two = await database_sync_to_async(make_job)(alice, name="two.wav")
    follower = as_user(alice, f"/ws/jobs/{one.public_id}/")
    assert (await follower.connect())[0]
    await follower.send_json_to({"type": "sync", "jobs": [str(two.public_id), str(one.public_id)]})
    event = await follower.receive_json_from(timeout=2)
    assert event["job"]["original_name"] == "one.wav" and event["job"]["status"] == "queued"
    assert await follower.receive_nothing(timeout=0.3)
    await follower.disconnect()
