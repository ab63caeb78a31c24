"""Full-text search over a person's file names and transcripts, with the database's own
index: SQLite FTS5 (kept in step by triggers, see migration 0002) or PostgreSQL's
tsvector with a GIN index. Other databases fall back to a substring scan."""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

MAX_TERMS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
PG_DOCUMENT = ("to_tsvector('simple', coalesce(transcripts_job.original_name, '') || ' ' || "
               "coalesce(transcripts_job.transcript_text, ''))")


def terms(query: str) -> list[str]:
    """Words to look for; punctuation and operators are dropped so that no query syntax
    reaches the database."""
    return [t.lower() for t in _WORD.findall(query or "")][:MAX_TERMS]


def search(jobs: QuerySet, query: str) -> QuerySet:
    """Jobs whose name or transcript has every word of the query (as a word prefix)."""
    words = terms(query)
    if not words:
        return jobs
    if connection.vendor == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        return jobs.filter(pk__in=RawSQL(
            "SELECT rowid FROM transcripts_job_fts WHERE transcripts_job_fts MATCH %s", [match]))
    if connection.vendor == "postgresql":
        tsquery = " & ".join(f"{w}:*" for w in words)
        return jobs.annotate(_found=RawSQL(f"{PG_DOCUMENT} @@ to_tsquery('simple', %s)", [tsquery],
                                           output_field=BooleanField())).filter(_found=True)
    for word in words:
        jobs = jobs.filter(Q(original_name__icontains=word) | Q(transcript_text__icontains=word))
    return jobs
