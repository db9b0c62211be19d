#!/bin/sh
# Small stand-in for the official postgres image's docker-entrypoint.sh.
# Env: POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#      POSTGRES_USER (default postgres), POSTGRES_DB (default $POSTGRES_USER),
#      POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA.
# First start on an empty PGDATA: initdb, create the database, run
# /docker-entrypoint-initdb.d/*.sql, *.sql.gz and *.sh (sourced) in name order
# against a socket-only temporary server, stop it, then exec the real server.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA

# `docker run IMAGE -c fsync=off` means `postgres -c fsync=off`
case "${1:-postgres}" in -*) set -- postgres "$@" ;; esac
[ "$#" -gt 0 ] || set -- postgres

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres {} +
    chmod 700 "$PGDATA"
    chmod 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups /bin/sh "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    POSTGRES_USER=${POSTGRES_USER:-postgres}
    POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo 'error: database is uninitialized and POSTGRES_PASSWORD is not set' >&2
        echo '       (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without one)' >&2
        exit 1
    fi

    pwfile=
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    fi
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list on purpose
    initdb --username="$POSTGRES_USER" ${pwfile:+--pwfile="$pwfile"} \
        --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-}
    [ -z "$pwfile" ] || rm -f "$pwfile"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    printf 'host all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

    export PGUSER="$POSTGRES_USER" PGPORT="${PGPORT:-5432}" PGHOST=/var/run/postgresql
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p $PGPORT" start
    psql='psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc'
    if [ "$POSTGRES_DB" != postgres ]; then
        $psql --dbname postgres --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
    export PGDATABASE="$POSTGRES_DB"
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)     echo "$0: sourcing $f"; . "$f" ;;
            *.sql)    echo "$0: running $f"; $psql -f "$f" ;;
            *.sql.gz) echo "$0: running $f"; gzip -dc "$f" | $psql ;;
            *)        [ ! -e "$f" ] || echo "$0: ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGHOST PGDATABASE PGUSER
    echo "$0: init done; starting the server"
fi

exec "$@"
