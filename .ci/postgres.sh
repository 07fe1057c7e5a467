#!/usr/bin/env bash
# A PostgreSQL server on localhost for the calibration-library tests: installs Debian's package if
# needed, starts the newest cluster, creates role lco (password lco) and database lco_test, and
# prints the test URL on stdout (progress goes to stderr). Idempotent; needs root.
set -euo pipefail

ROLE=lco
PASSWORD=lco
DATABASE=lco_test

log() { echo "postgres.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs and starts a system service)"

newest_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

version="$(newest_version)"
if [ -z "$version" ] || [ ! -x "/usr/lib/postgresql/$version/bin/postgres" ] || ! command -v pg_ctlcluster >/dev/null; then
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    version="$(newest_version)"
    [ -n "$version" ] || fail "postgresql installed but no server found in /usr/lib/postgresql"
fi

# The package creates cluster 'main'; a machine whose cluster was removed gets it back.
if ! pg_lsclusters --no-header | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main >&2
fi
port="$(pg_lsclusters --no-header | awk -v v="$version" '$1 == v && $2 == "main" { print $3 }')"

if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    log "starting cluster $version/main on port $port"
    pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 30); do
    pg_isready --quiet --host localhost --port "$port" && break
    sleep 1
done
pg_isready --host localhost --port "$port" >&2 || fail "server $version/main is not accepting connections on port $port"

# psql as the postgres superuser, from a folder it may enter, stopping at the first error.
as_postgres() { (cd / && runuser -u postgres -- psql --port "$port" --no-psqlrc -v ON_ERROR_STOP=1 -qtA "$@"); }

if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    log "creating role $ROLE"
    as_postgres -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
else
    # Keep the known password even if someone changed it.
    as_postgres -c "ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
fi
if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
    log "creating database $DATABASE"
    as_postgres -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi

url="postgresql+psycopg://$ROLE:$PASSWORD@localhost:$port/$DATABASE"
# Check the way the tests connect: over TCP with the password.
PGPASSWORD="$PASSWORD" psql --no-psqlrc -qtA -h localhost -p "$port" -U "$ROLE" -d "$DATABASE" -c "SELECT 1" >/dev/null \
    || fail "cannot log in as $ROLE to $DATABASE on localhost:$port with a password"
log "ready: $url"
echo "$url"
