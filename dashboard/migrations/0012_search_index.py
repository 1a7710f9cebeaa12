"""An index for the sessions page's text search: FTS5 (trigram) on SQLite, pg_trgm on PostgreSQL.

See dashboard/search.py. On PostgreSQL this creates the pg_trgm extension; a user that may not
gets a message saying what a superuser must run. Building the index reads every session once
(on SQLite about a minute per million sessions, here).
"""

from django.db import migrations

from dashboard import search


def create(apps, schema_editor):
    search.ensure(schema_editor.connection)


def drop(apps, schema_editor):
    search.drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0011_retention_rules"),
    ]

    operations = [migrations.RunPython(create, drop)]
