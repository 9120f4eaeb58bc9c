# Sourced by .ci/run (and usable by hand: `. .ci/postgres.sh`): makes sure a
# PostgreSQL from Debian's packages runs on this machine and exports
# WXFLOW_PG_URL for the PostgreSQL store's tests. Idempotent: a cluster this
# script started before is reused. The cluster is a throwaway one in
# $WXFLOW_PG_DIR (default /tmp/wxflow-pg), owned by the postgres user,
# listening on 127.0.0.1:$WXFLOW_PG_PORT (default 55432) only; the role and
# database are both wxflow (the role's password is a throwaway, for CI), and
# the role wxflow_node (same password) has no privileges of its own and
# serializable transactions by default. A standby of the cluster listens
# on the next port (WXFLOW_PG_STANDBY_URL).

wxflow_pg_dir=${WXFLOW_PG_DIR:-/tmp/wxflow-pg}
wxflow_pg_port=${WXFLOW_PG_PORT:-55432}
wxflow_pg_sudo=""
if [ "$(id -u)" -ne 0 ]; then wxflow_pg_sudo="sudo"; fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  $wxflow_pg_sudo apt-get update
  $wxflow_pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
fi
wxflow_pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

# as_postgres runs a command as the postgres user (initdb and the server
# refuse to run as root).
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else $wxflow_pg_sudo runuser -u postgres -- "$@"; fi
}

if [ ! -f "$wxflow_pg_dir/PG_VERSION" ]; then
  $wxflow_pg_sudo mkdir -p "$wxflow_pg_dir"
  $wxflow_pg_sudo chown postgres: "$wxflow_pg_dir"
  $wxflow_pg_sudo chmod 700 "$wxflow_pg_dir"
  echo postgres | as_postgres tee "$wxflow_pg_dir.pw" >/dev/null
  as_postgres "$wxflow_pg_bin/initdb" -D "$wxflow_pg_dir" -U postgres --pwfile="$wxflow_pg_dir.pw" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! as_postgres "$wxflow_pg_bin/pg_ctl" -D "$wxflow_pg_dir" status >/dev/null 2>&1; then
  as_postgres "$wxflow_pg_bin/pg_ctl" -D "$wxflow_pg_dir" -l "$wxflow_pg_dir/server.log" -w \
    -o "-p $wxflow_pg_port -k $wxflow_pg_dir -c listen_addresses=127.0.0.1" start >/dev/null
fi
wxflow_psql() { as_postgres "$wxflow_pg_bin/psql" -h "$wxflow_pg_dir" -p "$wxflow_pg_port" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(wxflow_psql -c "SELECT 1 FROM pg_roles WHERE rolname = 'wxflow'")" != 1 ]; then
  wxflow_psql -c "CREATE ROLE wxflow LOGIN"
fi
wxflow_psql -c "ALTER ROLE wxflow PASSWORD 'ci-only-secret'"
# wxflow_node holds no privilege of its own: the tests grant it, on their
# schemas, what docs/scaling.md gives a node's role. Its transactions are
# serializable by default, as a DBA may set a role's: the store must keep
# to read committed all the same.
if [ "$(wxflow_psql -c "SELECT 1 FROM pg_roles WHERE rolname = 'wxflow_node'")" != 1 ]; then
  wxflow_psql -c "CREATE ROLE wxflow_node LOGIN"
fi
wxflow_psql -c "ALTER ROLE wxflow_node PASSWORD 'ci-only-secret'"
wxflow_psql -c "ALTER ROLE wxflow_node SET default_transaction_isolation = 'serializable'"
if [ "$(wxflow_psql -c "SELECT 1 FROM pg_database WHERE datname = 'wxflow'")" != 1 ]; then
  wxflow_psql -c "CREATE DATABASE wxflow OWNER wxflow"
fi
# A database in LATIN1, which the store must refuse (it cannot hold
# WeChat's Chinese text).
if [ "$(wxflow_psql -c "SELECT 1 FROM pg_database WHERE datname = 'wxflow_latin1'")" != 1 ]; then
  wxflow_psql -c "CREATE DATABASE wxflow_latin1 OWNER wxflow ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
fi
export WXFLOW_PG_URL="postgres://wxflow:ci-only-secret@127.0.0.1:$wxflow_pg_port/wxflow?sslmode=disable"
# A standby of this cluster on the next port, which the store must refuse
# (it takes no writes): a base backup started with standby.signal and no
# primary to follow, so it stays in recovery and replays nothing (no CPU
# taken from the tests).
wxflow_pg_standby=${wxflow_pg_dir}-standby
wxflow_pg_standby_port=$((wxflow_pg_port + 1))
if [ ! -f "$wxflow_pg_standby/standby.signal" ]; then
  $wxflow_pg_sudo rm -rf "$wxflow_pg_standby"
  $wxflow_pg_sudo mkdir -p "$wxflow_pg_standby"
  $wxflow_pg_sudo chown postgres: "$wxflow_pg_standby"
  $wxflow_pg_sudo chmod 700 "$wxflow_pg_standby"
  # (It says it skips the server's socket, which lives in the data folder.)
  as_postgres "$wxflow_pg_bin/pg_basebackup" -D "$wxflow_pg_standby" -h "$wxflow_pg_dir" -p "$wxflow_pg_port" -U postgres -X fetch -c fast 2>"$wxflow_pg_standby.log" ||
    { cat "$wxflow_pg_standby.log" >&2; false; }
  as_postgres touch "$wxflow_pg_standby/standby.signal"
fi
if ! as_postgres "$wxflow_pg_bin/pg_ctl" -D "$wxflow_pg_standby" status >/dev/null 2>&1; then
  as_postgres "$wxflow_pg_bin/pg_ctl" -D "$wxflow_pg_standby" -l "$wxflow_pg_standby/server.log" -w \
    -o "-p $wxflow_pg_standby_port -k $wxflow_pg_standby -c listen_addresses=127.0.0.1" start >/dev/null
fi
export WXFLOW_PG_STANDBY_URL="postgres://wxflow:ci-only-secret@127.0.0.1:$wxflow_pg_standby_port/wxflow?sslmode=disable"
"$wxflow_pg_bin/postgres" --version
