# The official image's entrypoint, as far as the Compose stack uses it.
set -eu
if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
shift
as_postgres() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?}" > "$password"
    chown postgres "$password"
    as_postgres initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$password" \
        --auth-local=trust --auth-host=scram-sha-256 > /dev/null
    rm -f "$password"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\"" | as_postgres postgres --single -D "$PGDATA" postgres > /dev/null
    fi
fi
exec setpriv --reuid postgres --regid postgres --init-groups postgres -D "$PGDATA" "$@"
