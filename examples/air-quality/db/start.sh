#!/bin/sh
# PostgreSQL in the exec driver's chroot, as the postgres user, its data on the host volume mounted at
# /var/lib/postgresql. The password comes from secrets/db-password (rendered from the Drover Variable
# nomad/jobs/air-quality): initdb takes it on the first start (--pwfile); every later start sets it again in
# single-user mode, so a `drover var put` with a new password only needs the restart the template triggers.
# No Unix socket (-k ''): the only way in is TCP on the allocation's address with a SCRAM password.
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PGDATA=/var/lib/postgresql/data
pwfile=/secrets/db-password
if [ ! -s "$pwfile" ]; then
  echo "start.sh: $pwfile is empty: put the password with 'drover var put nomad/jobs/air-quality password=...'" >&2
  exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "start.sh: first start: initdb into $PGDATA"
  "$bin/initdb" --username=airq --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=reject \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "CREATE DATABASE airquality" | "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
else
  echo "start.sh: data directory found in $PGDATA: keeping it, setting the password from $pwfile"
  # Quote the password as an SQL literal; single-user mode echoes neither statements nor their parameters.
  pw=$(sed "s/'/''/g; q" "$pwfile")
  printf "ALTER ROLE airq PASSWORD '%s'\n" "$pw" | "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
fi
exec "$bin/postgres" -k '' -c listen_addresses="$NOMAD_IP_db" -p "$NOMAD_PORT_db" \
  -c shared_buffers=16MB -c max_connections=20 -c log_min_messages=warning
