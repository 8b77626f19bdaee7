#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the test suite.
# If none answers: start the local cluster, or install it from Debian packages first. A cluster
# this script installs itself gets trust auth for the `postgres` role on 127.0.0.1 only: it is
# a throw-away test server, never a production one. Another server can be used instead by
# setting CREDITGATE_TEST_PG_ADMIN_URL (a role allowed to CREATE and DROP DATABASE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
[ -n "${CREDITGATE_TEST_PG_ADMIN_URL:-}" ] && exit 0
answers() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
command -v pg_isready >/dev/null 2>&1 || "$here/system-deps.sh" postgresql-client
answers && exit 0
fresh=0
if [ ! -d /etc/postgresql ] || [ -z "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
  "$here/system-deps.sh" postgresql postgresql-client
  fresh=1
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if [ "$fresh" = 1 ]; then
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  $SUDO grep -q "creditgate-test" "$hba" ||
    $SUDO sed -i "1i host all postgres 127.0.0.1/32 trust # creditgate-test" "$hba"
fi
if $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
else
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
for _ in $(seq 1 30); do answers && exit 0; sleep 1; done
echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
