# Sourced by the bench scripts (`. "$(dirname "$0")/wait-healthy.sh"`):
#   wait_healthy PORT LOG [TENTHS]
# waits until the host on 127.0.0.1:PORT answers /healthz, at most TENTHS
# tenths of a second (default 200); if it never does, prints LOG and ends
# the script, so that no figure is taken from a host that is not there.
wait_healthy() {
  local port=$1 log=$2 tries=${3:-200}
  for _ in $(seq "$tries"); do
    curl -sf "localhost:$port/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the host on port $port did not start:" >&2
  cat "$log" >&2
  exit 1
}
