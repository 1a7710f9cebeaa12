"""An index for the sessions page's tag filter: a (tag, session) table kept by triggers on
SQLite, a pg_trgm GIN index on tags_text on PostgreSQL.

See dashboard/search.py (`tagged`). Filling the SQLite table reads every session once.
"""

from django.db import migrations

from dashboard import search


def create(apps, schema_editor):
    search.ensure(schema_editor.connection)


def drop(apps, schema_editor):
    search.drop(schema_editor.connection, tags=True)


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0016_insight_days"),
    ]

    operations = [migrations.RunPython(create, drop)]
