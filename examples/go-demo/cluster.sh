#!/bin/sh
# Starts the go-demo cluster on this machine's loopback, as the seed's three Swarm nodes: one server agent
# (with the gateway on 127.0.0.1:8080 and DNS on 127.0.0.1:8600) and three client agents node-1, node-2 and
# node-3 on 127.0.0.2, 127.0.0.3 and 127.0.0.4 (so their tasks' ports never collide). Ctrl-C (or SIGTERM)
# stops every agent. lose-node.sh kills one of the clients.
#
#   PORT (default 4646): the server's API port; the clients' APIs take PORT+1..PORT+3.
#   GATEWAY_PORT (default 8080), DNS_PORT (default 8600).
#   DATA_DIR (default /tmp/drover-go-demo): data directories, config files, logs and <node>.pid files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
drover=${DROVER:-$here/../../bin/drover}
PORT=${PORT:-4646}
GATEWAY_PORT=${GATEWAY_PORT:-8080}
DNS_PORT=${DNS_PORT:-8600}
DATA_DIR=${DATA_DIR:-/tmp/drover-go-demo}
mkdir -p "$DATA_DIR"

cat >"$DATA_DIR/server.hcl" <<HCL
gateway {
  enabled = true
  listen  = "127.0.0.1:$GATEWAY_PORT"
}
dns {
  enabled = true
}
server {
  # A lost node is noticed within a few seconds.
  min_heartbeat_ttl         = "2s"
  heartbeat_grace           = "2s"
}
HCL
for i in 1 2 3; do
  cat >"$DATA_DIR/node-$i.hcl" <<HCL
client {
  network_interface_ip = "127.0.0.$((i + 1))"
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
HCL
done

pids=""
start() {
  name=$1
  shift
  "$drover" agent -data-dir "$DATA_DIR/$name" -node "$name" "$@" >"$DATA_DIR/$name.log" 2>&1 &
  echo $! >"$DATA_DIR/$name.pid"
  pids="$pids $!"
}
stop() {
  trap - INT TERM EXIT
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  wait
}
trap stop INT TERM EXIT

start server -server -bind 127.0.0.1 -http-port "$PORT" -dns-port "$DNS_PORT" -config "$DATA_DIR/server.hcl"
for i in 1 2 3; do
  start "node-$i" -client -bind "127.0.0.$((i + 1))" -http-port $((PORT + i)) -dns-port 0 \
    -servers "127.0.0.1:$PORT" -config "$DATA_DIR/node-$i.hcl"
done

# Ready when the server lists three ready nodes.
for _ in $(seq 1 60); do
  if [ "$(curl -fs "http://127.0.0.1:$PORT/v1/nodes" | grep -o '"Status":"ready"' | wc -l)" -eq 3 ]; then
    echo "go-demo cluster ready: API http://127.0.0.1:$PORT, gateway http://127.0.0.1:$GATEWAY_PORT; logs in $DATA_DIR"
    wait
    exit 0
  fi
  sleep 1
done
echo "the three clients did not become ready in 60s; logs in $DATA_DIR" >&2
exit 1
