#!/usr/bin/env bash
# The CD example's pipeline: build → push → plan gate → run with -check-index → follow the deployment → smoke
# test through the gateway. Jenkinsfile and github-actions.yml call this same script; docs/cd.md explains it.
#
#   examples/cd/pipeline.sh
#
# Environment (defaults in brackets):
#   REGISTRY      the registry to push to and the docker driver pulls from [127.0.0.1:5000]
#   FILES_URL     the file server job's URL [http://127.0.0.1:5080]
#   RELEASES_DIR  the directory that file server serves (the cd-releases host volume) [/tmp/drover-cd/releases]
#   GATEWAY       Drover's gateway, for the smoke test [http://127.0.0.1:8080]
#   DROVER_ADDR   the agent, read by the drover CLI [http://127.0.0.1:4646]
#   DROVER        the CLI [the repository's bin/drover, else drover on the PATH]
#   APP_DIR       the web app's build context [examples/cd/app]
#   STATS_DIR     the stats API's files [examples/cd/stats]
#   COMMIT        the version tag [git rev-parse --short=12 HEAD, with -dirty when the tree has changes]
#   KEEP_LOCAL=1  keep the pushed tag in the local image store (by default it is removed, so the deploy pulls
#                 the image from the registry as a separate deploy host would)
#
# Exit codes: 0 deployed and smoke-tested (or nothing to deploy), 1 the deployment failed (auto_revert has put
# the last stable version back) or the smoke test failed, 2 a build, push or plan error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REGISTRY="${REGISTRY:-127.0.0.1:5000}"
FILES_URL="${FILES_URL:-http://127.0.0.1:5080}"
RELEASES_DIR="${RELEASES_DIR:-/tmp/drover-cd/releases}"
GATEWAY="${GATEWAY:-http://127.0.0.1:8080}"
APP_DIR="${APP_DIR:-$HERE/app}"
STATS_DIR="${STATS_DIR:-$HERE/stats}"
JOB_FILE="$HERE/app.nomad.hcl"
if [ -z "${DROVER:-}" ]; then
  if [ -x "$REPO/bin/drover" ]; then DROVER="$REPO/bin/drover"; else DROVER=drover; fi
fi
if [ -z "${COMMIT:-}" ]; then
  COMMIT="$(git -C "$APP_DIR" rev-parse --short=12 HEAD)"
  git -C "$APP_DIR" diff --quiet HEAD -- . || COMMIT="$COMMIT-dirty"
fi
IMAGE="$REGISTRY/cd-app:$COMMIT"

step() { printf '==> %s\n' "$*"; }
fail() { # fail CODE MESSAGE
  printf 'pipeline: %s\n' "$2" >&2
  exit "$1"
}

step "build $IMAGE"
DOCKER_BUILDKIT=0 docker build -q --build-arg "APP_VERSION=$COMMIT" -t "$IMAGE" "$APP_DIR" >/dev/null \
  || fail 2 "build of $APP_DIR failed"

step "push $IMAGE"
if ! out="$(docker push "$IMAGE" 2>&1)"; then
  printf '%s\n' "$out" >&2
  docker image rm "$IMAGE" >/dev/null 2>&1 || true
  fail 2 "push of $IMAGE to $REGISTRY failed (is the registry job running?)"
fi
[ "${KEEP_LOCAL:-0}" = 1 ] || docker image rm "$IMAGE" >/dev/null

step "publish the stats API to $FILES_URL"
TARBALL="stats-$COMMIT.tar.gz"
# A reproducible tarball (fixed times and owners, no gzip timestamp): the same commit gives the same checksum,
# so a re-run of the pipeline plans no change.
tar -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$STATS_DIR" . | gzip -n >"$RELEASES_DIR/$TARBALL.tmp" \
  || fail 2 "could not write $RELEASES_DIR/$TARBALL"
mv "$RELEASES_DIR/$TARBALL.tmp" "$RELEASES_DIR/$TARBALL"
SHA256="$(sha256sum "$RELEASES_DIR/$TARBALL" | cut -d' ' -f1)"

VARS=(-var "image=$IMAGE" -var "stats_url=$FILES_URL/$TARBALL" -var "stats_sha256=$SHA256" -var "version=$COMMIT")

step "plan"
set +e
plan="$("$DROVER" job plan "${VARS[@]}" "$JOB_FILE" 2>&1)"
rc=$?
set -e
printf '%s\n' "$plan"
case "$rc" in
  0)
    step "nothing to deploy: the running job already is $COMMIT"
    exit 0
    ;;
  1) ;;
  *) fail 2 "plan failed (exit $rc)" ;;
esac
index="$(printf '%s\n' "$plan" | sed -n 's/.*job run -check-index \([0-9][0-9]*\).*/\1/p' | head -n1)"
[ -n "$index" ] || fail 2 "plan printed no check index"

step "deploy $COMMIT (check index $index)"
if ! "$DROVER" job run -check-index "$index" "${VARS[@]}" "$JOB_FILE"; then
  "$DROVER" job history cd-app >&2 || true
  fail 1 "deployment of $COMMIT failed (see above); the last stable version keeps running"
fi

step "smoke test through $GATEWAY"
ok=0
for _ in $(seq 1 30); do
  web="$(curl -fsS --max-time 2 "$GATEWAY/cd/" 2>/dev/null || true)"
  stats="$(curl -fsS --max-time 2 "$GATEWAY/cd-stats/stats" 2>/dev/null || true)"
  if [ "$web" = "cd-app $COMMIT" ] && printf '%s' "$stats" | grep -q "\"version\":\"$COMMIT\""; then
    ok=1
    break
  fi
  sleep 1
done
[ "$ok" = 1 ] || fail 1 "smoke test failed: $GATEWAY/cd/ answered '${web:-nothing}', /cd-stats/stats '${stats:-nothing}'"
step "deployed $COMMIT: $GATEWAY/cd/ answers '$web'"
