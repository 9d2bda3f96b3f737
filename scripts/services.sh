#!/usr/bin/env bash
# Install (Debian packages) and start what the full test suite uses: PostgreSQL, Chromium,
# redis-server (installed only: the tests that need it start their own).
# Usage:  eval "$(bash scripts/services.sh --export)"   or   source scripts/services.sh
# Prints/sets CALLCENTER_TEST_POSTGRES_URL and CALLCENTER_TEST_CHROMIUM. Needs root (or sudo) for apt-get.
# SERVICES_DATABASE=NAME creates and names that database instead of callcenter_test
# (scripts/cluster.sh uses its own); SERVICES_CHROMIUM=0 leaves Chromium out, SERVICES_REDIS=0 Redis.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
DB_USER=callcenter
DB_PASS=callcenter
DB_NAME=${SERVICES_DATABASE:-callcenter_test}

log() { echo "[services] $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  log "installing PostgreSQL"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi

VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -q "^$VERSION main$"; then
  log "creating cluster $VERSION/main"
  $SUDO pg_createcluster "$VERSION" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting PostgreSQL $VERSION"
  $SUDO pg_ctlcluster "$VERSION" main start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" '$1==v && $2=="main" {print $3}')

psql_admin() { $SUDO -u postgres psql -p "$PORT" -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(id -u)" -eq 0 ]; then psql_admin() { su postgres -c "psql -p $PORT -v ON_ERROR_STOP=1 -qAt $(printf '%q ' "$@")"; }; fi

if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != "1" ]; then
  psql_admin -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS' CREATEDB"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != "1" ]; then
  psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
fi

# Chromium for the console tests (Playwright drives Debian's package; no browser download).
if [ "${SERVICES_CHROMIUM:-1}" != "0" ] && ! command -v chromium >/dev/null 2>&1; then
  log "installing Chromium"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi
CHROMIUM=$(command -v chromium || true)

# redis-server for the suite's two-process tests, which start their own on a free port
# (tests/test_cluster_board.py; skipped without it).
if [ "${SERVICES_REDIS:-1}" != "0" ] && ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >&2
fi

URL="postgresql+psycopg://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"
log "PostgreSQL ready: $URL"
log "Chromium ready: $CHROMIUM"
if [ "${1:-}" = "--export" ]; then
  echo "export CALLCENTER_TEST_POSTGRES_URL='$URL'"
  echo "export CALLCENTER_TEST_CHROMIUM='$CHROMIUM'"
else
  export CALLCENTER_TEST_POSTGRES_URL="$URL"
  export CALLCENTER_TEST_CHROMIUM="$CHROMIUM"
  echo "CALLCENTER_TEST_POSTGRES_URL=$URL"
  echo "CALLCENTER_TEST_CHROMIUM=$CHROMIUM"
fi
