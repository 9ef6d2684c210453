#!/bin/sh
# Starts the Paris Container Day's region "europe" on this machine's loopback, after its step 3: one server and
# three client agents in two datacenters. "europe-west1" (the GCP half) has one client on 127.0.0.1;
# "france" (the OVH half) has two clients with node_class = "data", one on 127.0.0.2 and one on 127.0.0.3, so
# a static port can be taken once on each of them. Ctrl-C (or SIGTERM) stops all four agents.
#
#   PORT (default 4646): the server's API port; the clients' APIs take PORT+1, PORT+2, PORT+3.
#   DATA_DIR (default: a new directory under /tmp): the agents' data directories, config files and logs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
drover=${DROVER:-$here/../../bin/drover}
PORT=${PORT:-4646}
DATA_DIR=${DATA_DIR:-$(mktemp -d /tmp/drover-multi-dc.XXXXXX)}
mkdir -p "$DATA_DIR"

# client_config NAME IP [CLASS]: raw_exec on, tasks' ports on IP, the node class if any.
client_config() {
  {
    echo 'client {'
    echo "  network_interface_ip = \"$2\""
    [ -n "${3:-}" ] && echo "  node_class = \"$3\""
    echo '}'
    echo 'plugin "raw_exec" {'
    echo '  config {'
    echo '    enabled = true'
    echo '  }'
    echo '}'
  } >"$DATA_DIR/$1.hcl"
}
client_config gce-1 127.0.0.1
client_config ovh-1 127.0.0.2 data
client_config ovh-2 127.0.0.3 data

pids=""
start() {
  name=$1
  shift
  "$drover" agent -region europe -dns-port 0 -data-dir "$DATA_DIR/$name" -node "$name" "$@" >"$DATA_DIR/$name.log" 2>&1 &
  pids="$pids $!"
}
stop() {
  trap - INT TERM EXIT
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  wait
}
trap stop INT TERM EXIT

start server -server -dc europe-west1 -bind 127.0.0.1 -http-port "$PORT"
start gce-1 -client -dc europe-west1 -bind 127.0.0.1 -http-port $((PORT + 1)) -servers "127.0.0.1:$PORT" \
  -config "$DATA_DIR/gce-1.hcl"
start ovh-1 -client -dc france -bind 127.0.0.2 -http-port $((PORT + 2)) -servers "127.0.0.1:$PORT" \
  -config "$DATA_DIR/ovh-1.hcl"
start ovh-2 -client -dc france -bind 127.0.0.3 -http-port $((PORT + 3)) -servers "127.0.0.1:$PORT" \
  -config "$DATA_DIR/ovh-2.hcl"

# Ready when the server lists three ready nodes.
for _ in $(seq 1 60); do
  if [ "$(curl -fs "http://127.0.0.1:$PORT/v1/nodes" | grep -o '"Status":"ready"' | wc -l)" -eq 3 ]; then
    echo "region europe (http://127.0.0.1:$PORT): datacenters europe-west1 and france ready; logs in $DATA_DIR"
    wait
    exit 0
  fi
  sleep 1
done
echo "the three clients did not become ready in 60s; logs in $DATA_DIR" >&2
exit 1
