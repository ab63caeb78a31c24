"""The full-text index behind transcripts.search: FTS5 with triggers on SQLite, a GIN
expression index on PostgreSQL."""

from django.db import migrations

SQLITE = [
    """CREATE VIRTUAL TABLE transcripts_job_fts USING fts5(
           original_name, transcript_text, content='transcripts_job', content_rowid='id',
           tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER transcripts_job_fts_insert AFTER INSERT ON transcripts_job BEGIN
           INSERT INTO transcripts_job_fts(rowid, original_name, transcript_text)
           VALUES (new.id, new.original_name, new.transcript_text); END""",
    """CREATE TRIGGER transcripts_job_fts_delete AFTER DELETE ON transcripts_job BEGIN
           INSERT INTO transcripts_job_fts(transcripts_job_fts, rowid, original_name, transcript_text)
           VALUES ('delete', old.id, old.original_name, old.transcript_text); END""",
    """CREATE TRIGGER transcripts_job_fts_update AFTER UPDATE OF original_name, transcript_text
           ON transcripts_job BEGIN
           INSERT INTO transcripts_job_fts(transcripts_job_fts, rowid, original_name, transcript_text)
           VALUES ('delete', old.id, old.original_name, old.transcript_text);
           INSERT INTO transcripts_job_fts(rowid, original_name, transcript_text)
           VALUES (new.id, new.original_name, new.transcript_text); END""",
    "INSERT INTO transcripts_job_fts(transcripts_job_fts) VALUES ('rebuild')",
]
SQLITE_UNDO = [
    "DROP TRIGGER IF EXISTS transcripts_job_fts_insert",
    "DROP TRIGGER IF EXISTS transcripts_job_fts_delete",
    "DROP TRIGGER IF EXISTS transcripts_job_fts_update",
    "DROP TABLE IF EXISTS transcripts_job_fts",
]
POSTGRES = ["""CREATE INDEX transcripts_job_search ON transcripts_job USING gin (
    to_tsvector('simple', coalesce(original_name, '') || ' ' || coalesce(transcript_text, '')))"""]
POSTGRES_UNDO = ["DROP INDEX IF EXISTS transcripts_job_search"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)
    return run


class Migration(migrations.Migration):
    dependencies = [("transcripts", "0001_initial")]
    operations = [migrations.RunPython(_run({"sqlite": SQLITE, "postgresql": POSTGRES}),
                                       _run({"sqlite": SQLITE_UNDO, "postgresql": POSTGRES_UNDO}))]
