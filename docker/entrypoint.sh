#!/bin/sh
# The container's entrypoint: migrate first when DASHBOARD_MIGRATE_ON_START is true, then run the
# command given (gunicorn by default, see the Dockerfile's CMD; the worker and the scheduler
# services pass their own).
set -eu

migrate=$(printf '%s' "${DASHBOARD_MIGRATE_ON_START:-false}" | tr '[:upper:]' '[:lower:]')
case "$migrate" in
  1 | true | yes | on) python manage.py migrate --noinput ;;
  0 | false | no | off | "") ;;
  *)
    echo "DASHBOARD_MIGRATE_ON_START must be true or false, not '$migrate'" >&2
    exit 2
    ;;
esac

if [ "$#" -eq 0 ]; then
  set -- gunicorn -c gunicorn.conf.py dashboard.wsgi
fi
# exec: the command replaces this shell as PID 1, so it gets docker's SIGTERM itself.
exec "$@"
