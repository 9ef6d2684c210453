#!/usr/bin/env bash
# Builds the local images that driver tests and examples run, without any registry:
#
#   drover-test/busybox:latest   FROM scratch + busybox-static (sh, httpd, nc, wget, sleep, ps ...)
#   drover-test/node:latest      the busybox image + the host's `node` binary and the shared libraries ldd lists
#   drover-test/jobs-app:latest  examples/homework-app/jobs-app (port 5000), FROM the node image
#   drover-test/auth-app:latest  examples/homework-app/auth-app (port 5001, tokens in SQLite), FROM the node image
#
# Idempotent and fast: each image carries a label with the hash of its inputs, and is rebuilt only when that
# hash changes (or when a base image it is built on was rebuilt). Nothing is ever pulled: the legacy builder
# is used and every base is either `scratch` or one of the images above.
#
# Usage: scripts/build-test-images.sh [--force] [image-short-name ...]   (names: busybox node jobs-app auth-app)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FORCE=0
WANT=()
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    *) WANT+=("$a") ;;
  esac
done
[ ${#WANT[@]} -eq 0 ] && WANT=(busybox node jobs-app auth-app)

export DOCKER_BUILDKIT=0
STAGE="$(mktemp -d /tmp/drover-images.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT

log() { echo "build-test-images: $*" >&2; }

# hash_inputs FILE... : a stable hash of the files' contents and (relative) names.
hash_inputs() {
  local f
  for f in "$@"; do
    printf '%s\n' "$f"
    sha256sum < "$f"
  done | sha256sum | cut -c1-32
}

image_label() { # image label -> value or empty
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# build TAG HASH CONTEXT : builds unless an image with the same input hash exists.
build() {
  local tag="$1" hash="$2" ctx="$3"
  if [ "$FORCE" -eq 0 ] && [ "$(image_label "$tag" drover.inputs)" = "$hash" ]; then
    log "$tag is up to date"
    return 0
  fi
  log "building $tag"
  local out
  if ! out="$(docker build -q --label "drover.inputs=$hash" -t "$tag" "$ctx" 2>&1)"; then
    log "error: building $tag failed:"
    echo "$out" >&2
    exit 1
  fi
}

want() { local w; for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

build_busybox() {
  local ctx="$STAGE/busybox" bb
  bb="$(readlink -f /bin/busybox)"
  if ! file "$bb" 2>/dev/null | grep -q 'statically linked'; then
    # `file` may be missing; fall back to ldd, which says "not a dynamic executable" for static binaries.
    if ldd "$bb" >/dev/null 2>&1; then
      log "error: $bb is not statically linked (install busybox-static)"
      exit 1
    fi
  fi
  mkdir -p "$ctx"
  cp "$bb" "$ctx/busybox"
  cat > "$ctx/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat > "$ctx/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
  cat > "$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir -p /tmp /root /etc /usr/bin /usr/local/bin /var/tmp && chmod 1777 /tmp /var/tmp"]
COPY passwd group /etc/
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
EOF
  build drover-test/busybox:latest "$(cd "$ctx" && hash_inputs busybox passwd group Dockerfile)" "$ctx"
}

build_node() {
  local ctx="$STAGE/node" node lib
  node="$(readlink -f "$(command -v node)")"
  mkdir -p "$ctx/root/usr/local/bin"
  cp "$node" "$ctx/root/usr/local/bin/node"
  # Every shared library the binary needs, at the same path as on the host (dereferenced).
  for lib in $(ldd "$node" | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$ctx/root$(dirname "$lib")"
    cp -L "$lib" "$ctx/root$lib"
  done
  cat > "$ctx/Dockerfile" <<'EOF'
FROM drover-test/busybox:latest
COPY root/ /
RUN ["/usr/local/bin/node", "-e", "process.exit(0)"]
CMD ["node"]
EOF
  local files
  files="$(cd "$ctx" && find . -type f | sort)"
  # The base image's id is part of the hash, so a rebuilt busybox image rebuilds this one.
  build drover-test/node:latest "$( (cd "$ctx" && hash_inputs $files; image_id drover-test/busybox:latest) | sha256sum | cut -c1-32)" "$ctx"
}

# build_example NAME : examples/homework-app/NAME with its Dockerfile; better-sqlite3 staged for the auth app.
build_example() {
  local name="$1" src="$REPO/examples/homework-app/$1" ctx="$STAGE/$1"
  mkdir -p "$ctx"
  cp -r "$src/." "$ctx/"
  rm -rf "$ctx/node_modules" "$ctx"/*.test.* 2>/dev/null || true
  if [ "$name" = auth-app ]; then
    # better-sqlite3 compiled by `npm install` for this very node binary, which is also the image's node,
    # so its ABI always matches (Node 20, 22 and 24 alike). Only the JS and the addon are needed.
    local bs="$REPO/node_modules/better-sqlite3"
    mkdir -p "$ctx/node_modules/better-sqlite3/build/Release"
    cp "$bs/package.json" "$ctx/node_modules/better-sqlite3/"
    cp -r "$bs/lib" "$ctx/node_modules/better-sqlite3/"
    cp "$bs/build/Release/better_sqlite3.node" "$ctx/node_modules/better-sqlite3/build/Release/"
  fi
  local files
  files="$(cd "$ctx" && find . -type f | sort)"
  build "drover-test/$name:latest" "$( (cd "$ctx" && hash_inputs $files; image_id drover-test/node:latest) | sha256sum | cut -c1-32)" "$ctx"
}

if ! docker version >/dev/null 2>&1; then
  log "error: docker is not reachable"
  exit 2
fi

# Bases first: a later image needs the earlier one even when only it was asked for.
if want busybox || want node || want jobs-app || want auth-app; then build_busybox; fi
if want node || want jobs-app || want auth-app; then build_node; fi
if want jobs-app; then build_example jobs-app; fi
if want auth-app; then build_example auth-app; fi
