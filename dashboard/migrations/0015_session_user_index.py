"""The "started by" filter (issue 15): an index on user_id, as the other filters have (0013),
and one that lets the sessions page count its views and statuses within one org from the index.

user_id is cut to 200 characters on the way in (dashboard.sync.INDEXED_LIMITS) so that no index
row passes PostgreSQL's ~2.7 kB limit; rows stored before are cut here first, as sync would."""

from typing import Any

from django.db import migrations, models
from django.db.models.functions import Length

LIMIT = 200


def cut_long_user_ids(apps: Any, schema_editor: Any) -> None:
    Session = apps.get_model("dashboard", "Session")
    long = Session.objects.annotate(n=Length("user_id")).filter(n__gt=LIMIT)
    for pk, user_id in long.values_list("pk", "user_id").iterator():
        Session.objects.filter(pk=pk).update(user_id=user_id[: LIMIT - 1] + "…")


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0014_acu_days"),
    ]

    operations = [
        migrations.RunPython(cut_long_user_ids, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=["user_id", "is_archived", "-updated_at", "-id", "org"],
                name="session_user_updated",
            ),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(
                fields=["org", "is_archived", "status", "status_detail", "pr_states"],
                name="session_org_status",
            ),
        ),
    ]
