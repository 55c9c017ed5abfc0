#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries when they are missing: the
# end-to-end tests start throwaway clusters of their own with them (initdb,
# pg_ctl); no server needs to be running.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL is missing: run 'sudo apt-get install postgresql' (Debian's package)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
