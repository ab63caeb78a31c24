"""Full-text search over a person's file names and transcripts, with the database's own
index: SQLite FTS5 (kept in step by triggers) or PostgreSQL's tsvector with a GIN index.
Other databases fall back to a substring scan."""

from __future__ import annotations

import re

from django.db import connection, connections
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


# SQLite rebuilds a table to alter it, and the rebuild drops its triggers: the index is
# therefore (re)made after every migrate (see apps.py), not only by a migration.
SQLITE_INDEX = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS transcripts_job_fts USING fts5(
           original_name, transcript_text, content='transcripts_job', content_rowid='id',
           tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS transcripts_job_fts_insert AFTER INSERT ON transcripts_job BEGIN
           INSERT INTO transcripts_job_fts(rowid, original_name, transcript_text)
           VALUES (new.id, new.original_name, new.transcript_text); END""",
    """CREATE TRIGGER IF NOT EXISTS transcripts_job_fts_delete AFTER DELETE ON transcripts_job BEGIN
           INSERT INTO transcripts_job_fts(transcripts_job_fts, rowid, original_name, transcript_text)
           VALUES ('delete', old.id, old.original_name, old.transcript_text); END""",
    """CREATE TRIGGER IF NOT EXISTS transcripts_job_fts_update
           AFTER UPDATE OF original_name, transcript_text ON transcripts_job BEGIN
           INSERT INTO transcripts_job_fts(transcripts_job_fts, rowid, original_name, transcript_text)
           VALUES ('delete', old.id, old.original_name, old.transcript_text);
           INSERT INTO transcripts_job_fts(rowid, original_name, transcript_text)
           VALUES (new.id, new.original_name, new.transcript_text); END""",
]
POSTGRES_INDEX = [f"CREATE INDEX IF NOT EXISTS transcripts_job_search ON transcripts_job USING gin ({PG_DOCUMENT.replace('transcripts_job.', '')})"]


def ensure_search_index(using: str = "default") -> None:
    """Create the index and its triggers where they are missing; rebuild the SQLite index
    when its triggers had been dropped, so that it matches the table again."""
    conn = connections[using]
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                           "AND name LIKE 'transcripts_job_fts_%'")
            complete = cursor.fetchone()[0] == 3
            if not complete:
                for statement in SQLITE_INDEX:
                    cursor.execute(statement)
                cursor.execute("INSERT INTO transcripts_job_fts(transcripts_job_fts) VALUES ('rebuild')")
        elif conn.vendor == "postgresql":
            for statement in POSTGRES_INDEX:
                cursor.execute(statement)
