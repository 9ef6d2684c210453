#!/bin/sh
# Starts the Paris Container Day layout on this machine's loopback: two regions, each one server and one
# client agent. Region "us" runs datacenter gce-west1; region "europe" runs datacenter france, whose client has
# node_class = "data". The europe server federates with the us server through server_join.
# Ctrl-C (or SIGTERM) stops all four agents.
#
#   US_PORT (default 4646) and EU_PORT (default 4656): the two servers' API ports; each client takes port + 1.
#   DATA_DIR (default: a new directory under /tmp): the agents' data directories and config files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
drover=${DROVER:-$here/../../bin/drover}
US_PORT=${US_PORT:-4646}
EU_PORT=${EU_PORT:-4656}
DATA_DIR=${DATA_DIR:-$(mktemp -d /tmp/drover-multi-region.XXXXXX)}
mkdir -p "$DATA_DIR"

cat >"$DATA_DIR/europe-server.hcl" <<HCL
server {
  enabled = true
  server_join {
    retry_join     = ["127.0.0.1:$US_PORT"]
    retry_interval = "1s"
  }
}
HCL
cat >"$DATA_DIR/client.hcl" <<HCL
plugin "raw_exec" {
  config {
    enabled = true
  }
}
HCL
cat >"$DATA_DIR/data-client.hcl" <<HCL
client {
  node_class = "data"
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
HCL

pids=""
start() {
  name=$1
  shift
  "$drover" agent -bind 127.0.0.1 -dns-port 0 -data-dir "$DATA_DIR/$name" -node "$name" "$@" >"$DATA_DIR/$name.log" 2>&1 &
  pids="$pids $!"
}
stop() {
  trap - INT TERM EXIT
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  wait
}
trap stop INT TERM EXIT

start us-server -server -region us -http-port "$US_PORT"
start eu-server -server -region europe -http-port "$EU_PORT" -config "$DATA_DIR/europe-server.hcl"
start us-client -client -region us -dc gce-west1 -servers "127.0.0.1:$US_PORT" -http-port $((US_PORT + 1)) \
  -config "$DATA_DIR/client.hcl"
start eu-data -client -region europe -dc france -servers "127.0.0.1:$EU_PORT" -http-port $((EU_PORT + 1)) \
  -config "$DATA_DIR/data-client.hcl"

# Ready when both servers list both regions.
for _ in $(seq 1 60); do
  if curl -fs "http://127.0.0.1:$US_PORT/v1/regions" | grep -q europe &&
    curl -fs "http://127.0.0.1:$EU_PORT/v1/regions" | grep -q us; then
    echo "regions us (http://127.0.0.1:$US_PORT) and europe (http://127.0.0.1:$EU_PORT) federated; logs in $DATA_DIR"
    wait
    exit 0
  fi
  sleep 1
done
echo "the regions did not federate in 60s; logs in $DATA_DIR" >&2
exit 1
