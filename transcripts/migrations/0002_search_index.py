"""The full-text index behind transcripts.search (FTS5 with triggers on SQLite, a GIN
expression index on PostgreSQL). It is also re-made after every migrate: see apps.py."""

from django.db import migrations


def create_index(apps, schema_editor):
    from transcripts.search import ensure_search_index

    ensure_search_index(schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("transcripts", "0001_initial")]
    operations = [migrations.RunPython(create_index, migrations.RunPython.noop)]
