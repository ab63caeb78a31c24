"""Reads are scoped to their owner; filters and search."""

import pytest
from django.http import Http404

from tests.transcripts.conftest import make_result, stored_outcome
from transcripts import selectors, services
from transcripts.models import Status

pytestmark = pytest.mark.django_db


def test_people_see_only_their_own_jobs_newest_first(alice, bob, make_job):
    old = make_job(alice, name="old.wav")
    new = make_job(alice, name="new.wav")
    make_job(bob, name="bobs.wav")
    assert [j.original_name for j in selectors.jobs_for_user(alice)] == ["new.wav", "old.wav"]
    with pytest.raises(Http404):
        selectors.job_for_user(bob, new.public_id)
    assert selectors.job_for_user(alice, old.public_id) == old


def test_filter_by_status_and_search_names_and_words(alice, bob, make_job):
    make_job(alice, name="standup.mp3", status=Status.COMPLETED, text="the budget is approved")
    make_job(alice, name="interview.wav", status=Status.COMPLETED, text="tell me about yourself")
    make_job(alice, name="budget-call.m4a", status=Status.FAILED)
    make_job(bob, name="bob.wav", status=Status.COMPLETED, text="the budget is secret")
    names = lambda **kw: sorted(j.original_name for j in selectors.jobs_for_user(alice, **kw))
    assert names(status="failed") == ["budget-call.m4a"]
    assert names(query="budget") == ["budget-call.m4a", "standup.mp3"]
    assert names(query="tell yourself") == ["interview.wav"]
    assert names(query="budget", status="completed") == ["standup.mp3"]
    assert names(status="nonsense") == names()  # an unknown filter shows everything


def test_summary_is_what_the_dashboard_shows(alice, make_job):
    job = make_job(alice, name="a <b>.wav", status=Status.COMPLETED, text="hi")
    summary = selectors.job_summary(job)
    assert summary["original_name"] == "a <b>.wav" and summary["status_label"] == "Completed"
    assert summary["url"] == f"/jobs/{job.public_id}/" and summary["duration"] == 2.5


@pytest.mark.django_db(transaction=True)
def test_search_finds_words_as_soon_as_the_outcome_lands(alice, make_job):

    job = make_job(alice, name="call.wav")
    assert not selectors.jobs_for_user(alice, query="invoice").exists()
    name = services.job_store_output(job=job, result=make_result("the invoice is overdue"))
    services.job_record_outcome(job_pk=job.pk, outcome=stored_outcome(name))
    assert list(selectors.jobs_for_user(alice, query="invoice overdue")) == [job]
    assert list(selectors.jobs_for_user(alice, query="invo")) == [job]  # words by their start
    services.job_delete(job=job)
    assert not selectors.jobs_for_user(alice, query="invoice").exists()


@pytest.mark.parametrize("query", ['"budget', "budget OR NOT x*", "NEAR(a b)", "a:b", "((", "'; DROP TABLE"])
def test_search_syntax_in_a_query_is_just_text(alice, make_job, query):
    make_job(alice, name="budget.wav", status=Status.COMPLETED, text="budget review")
    list(selectors.jobs_for_user(alice, query=query))  # no database error
