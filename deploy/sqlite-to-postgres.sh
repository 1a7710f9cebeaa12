#!/bin/sh
# Copy the dashboard's data from SQLite into a new, empty PostgreSQL database.
# docs/deploy.md ("From SQLite to PostgreSQL") says when and how; tests/test_sqlite_to_postgres.py
# runs this very script.
#
# Run it from the project directory with the dashboard and the sync loop stopped, in the
# environment the dashboard runs with (SECRET_KEY, DASHBOARD_CREDENTIAL_KEYS, DASHBOARD_DATA_DIR
# holding dashboard.sqlite3), plus DATABASE_URL (or DATABASE_URL_FILE) naming the PostgreSQL
# database, as it will from now on. PYTHON is the interpreter to use (default .venv/bin/python).
set -eu

python=${PYTHON:-.venv/bin/python}
if [ -z "${DATABASE_URL:-}${DATABASE_URL_FILE:-}" ]; then
  echo "Set DATABASE_URL (or DATABASE_URL_FILE) to the PostgreSQL database to move to." >&2
  exit 2
fi
# The dump holds the sessions, the audit trail and the encrypted tokens: a private directory.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "1/3 Dumping the SQLite database"
# Without DATABASE_URL the settings read SQLite in the data dir. migrate recreates content types
# and permissions, and natural keys (--natural-foreign) point at them by name; primary keys are
# kept, so ids in links stay valid. Sign-in sessions are left behind: everyone signs in again.
(
  unset DATABASE_URL DATABASE_URL_FILE
  "$python" manage.py dumpdata --natural-foreign --exclude contenttypes --exclude auth.permission --exclude sessions --output "$work/dashboard.json"
)

echo "2/3 Creating the tables in PostgreSQL"
"$python" manage.py migrate --noinput
# loaddata overwrites rows with the same ids: never load into a database already in use.
status=0
"$python" manage.py shell -c "import sys; from django.contrib.auth import get_user_model; from dashboard.models import Organization; sys.exit(3 if get_user_model().objects.exists() or Organization.objects.exists() else 0)" || status=$?
if [ "$status" -eq 3 ]; then
  echo "The PostgreSQL database already holds users or organizations; use an empty one." >&2
  exit 1
elif [ "$status" -ne 0 ]; then
  exit "$status"
fi

echo "3/3 Loading the data into PostgreSQL"
"$python" manage.py loaddata "$work/dashboard.json"
echo "Done. Start the dashboard with DATABASE_URL set; keep the SQLite file until you are sure."
