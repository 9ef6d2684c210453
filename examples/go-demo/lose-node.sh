#!/bin/sh
# Loses one node of the cluster.sh cluster, as a machine dying: SIGKILLs its client agent and every task
# process it started, then shows where go-demo's instances run before, and after the server noticed the node
# down and placed replacements on the other nodes.
#
#   lose-node.sh [node] (default node-3); PORT and DATA_DIR as for cluster.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
drover=${DROVER:-$here/../../bin/drover}
PORT=${PORT:-4646}
DATA_DIR=${DATA_DIR:-/tmp/drover-go-demo}
node=${1:-node-3}
export DROVER_ADDR="http://127.0.0.1:$PORT"

# placement: "<node> <count>" lines for go-demo's running instances.
placement() {
  curl -fsS "$DROVER_ADDR/v1/job/go-demo/allocations" |
    node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const n={};
      for (const a of JSON.parse(s)) if (a.ClientStatus==="running"&&a.DesiredStatus==="run") n[a.NodeName]=(n[a.NodeName]||0)+1;
      for (const k of Object.keys(n).sort()) console.log(`  ${k} ${n[k]}`)})'
}

echo "go-demo instances per node before losing $node:"
placement
pid=$(cat "$DATA_DIR/$node.pid")
kill -9 "$pid"
# Its tasks die with the machine: every process whose environment names the node's data directory.
for p in /proc/[0-9]*; do
  if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -q "^NOMAD_ALLOC_DIR=$DATA_DIR/$node/"; then
    kill -9 "${p#/proc/}" 2>/dev/null || true
  fi
done
echo "killed $node (agent pid $pid) and its tasks"

for _ in $(seq 1 60); do
  if "$drover" node status | grep -q "$node .*down" && ! placement | grep -q "$node "; then
    want=$(curl -fsS "$DROVER_ADDR/v1/job/go-demo" |
      node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).TaskGroups[0].Count))')
    have=$(placement | awk '{n += $2} END {print n + 0}')
    if [ "$have" -eq "$want" ]; then
      echo "go-demo instances per node after $node went down:"
      placement
      exit 0
    fi
  fi
  sleep 1
done
echo "the instances did not move off $node in 60s" >&2
exit 1
