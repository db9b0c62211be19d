#!/bin/sh
# The agent tests' app: a tiny HTTP server whose behaviour the environment sets.
#   APP_EXIT_CODE=N     print a line and exit N at once
#   APP_HEALTH=fail     /health answers 500 (so container and ELB health checks fail)
#   APP_START_DELAY=S   wait S seconds before serving
#   APP_PORT            default 8080
#   APP_LINES=N         print N numbered log lines at start (default 3)
echo "app: starting version ${APP_VERSION:-?} as uid $(id -u)"
i=1
while [ "$i" -le "${APP_LINES:-3}" ]; do
    echo "app: line $i"
    i=$((i + 1))
done
echo "app: to stderr" >&2
if [ -n "${APP_EXIT_CODE:-}" ]; then
    echo "app: exiting with code $APP_EXIT_CODE"
    exit "$APP_EXIT_CODE"
fi
[ -z "${APP_START_DELAY:-}" ] || sleep "$APP_START_DELAY"
mkdir -p /tmp/www/cgi-bin
echo "version=${APP_VERSION:-?}" > /tmp/www/index.html
printf '%s\n' "${APP_HEALTH:-ok}" > /tmp/health-mode
cp /app/cgi/* /tmp/www/cgi-bin/
httpd -f -p "${APP_PORT:-8080}" -h /tmp/www &
pid=$!
trap 'echo "app: got SIGTERM, exiting"; kill $pid; exit 0' TERM INT
echo "app: serving on port ${APP_PORT:-8080}"
wait $pid
