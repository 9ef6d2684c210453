#!/usr/bin/env bash
# The one test command (`npm test`): installs what the suites need when it is missing, starts dockerd,
# builds, and runs every test. Safe to run again; fast when everything is already there.
# Under CI=true any skipped test fails the run: a suite that cannot run must not pass silently.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START_S=$(date +%s)
say() { printf '\n\033[1m==> %s\033[0m (at %ss)\n' "$*" "$(($(date +%s) - START_S))"; }
loud() { printf '\n\033[1;31m!!! %s\033[0m\n' "$*" >&2; }

# --- 1. System packages the suites use (Debian). command -> package
declare -A PKG=(
  [dockerd]=docker.io [etcd]=etcd-server [nginx]=nginx [haproxy]=haproxy [prometheus]=prometheus
  [chromium]=chromium [busybox]=busybox-static [wrk]=wrk [dig]=dnsutils [runc]=runc [tini]=tini
  [ip]=iproute2 [unshare]=util-linux [curl]=curl [ps]=procps [openssl]=openssl
  [docker-registry]=docker-registry [htpasswd]=apache2-utils [psql]=postgresql [pebble]=pebble
)
missing=()
for cmd in "${!PKG[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG[$cmd]}"); done
# busybox-static provides /bin/busybox; the dynamic busybox does not make static images.
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically' || missing+=(busybox-static)
# The CNI plugins are binaries outside PATH: bridge mode (test/e2e/net-bridge.test.ts) runs them from /usr/lib/cni.
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/portmap ] || missing+=(containernetworking-plugins)
# PostgreSQL's server is outside PATH too: examples/air-quality runs /usr/lib/postgresql/<version>/bin/postgres.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" = 0 ]; then
    say "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/drover-apt.log 2>&1 \
      || { loud "apt-get install failed (see /tmp/drover-apt.log); suites needing ${missing[*]} will fail"; tail -20 /tmp/drover-apt.log; }
  else
    loud "Not root: cannot install ${missing[*]}; the suites that need them will say so"
  fi
fi

# --- 2. npm dependencies and the build
installed=0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "Installing npm dependencies"
  npm ci --no-audit --no-fund || exit 1
  installed=1 # npm ci ran the `prepare` script, which is the build
fi
# better-sqlite3's install downloads a prebuilt binary from GitHub and compiles SQLite (a minute and more of
# both cores) when it cannot. Keep the binary this install ended with where that download would have put it
# (npm's cache, keyed by version, Node ABI, platform and arch), so the next install on this machine, and the
# fresh clone the quick-start test installs, take it instead of compiling again. prebuild-install loads a
# cached binary before using it and compiles as before when that fails.
node --input-type=module - <<'JS' || loud "could not keep better-sqlite3's binary in npm's cache"
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
const dir = 'node_modules/better-sqlite3';
if (!existsSync(join(dir, 'build/Release/better_sqlite3.node')) || process.platform !== 'linux') process.exit(0);
const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const file = `better-sqlite3-v${version}-node-v${process.versions.modules}-linux-${process.arch}.tar.gz`;
const url = `https://github.com/WiseLibs/better-sqlite3/releases/download/v${version}/${file}`;
const cache = join(process.env.npm_config_cache || join(homedir(), '.npm'), '_prebuilds');
const dest = join(cache, `${createHash('sha512').update(url).digest('hex').slice(0, 6)}-${file}`);
if (existsSync(dest)) process.exit(0);
mkdirSync(cache, { recursive: true });
execFileSync('tar', ['-czf', `${dest}.tmp`, '-C', dir, 'build/Release/better_sqlite3.node']);
renameSync(`${dest}.tmp`, dest);
console.log(`kept better-sqlite3's binary as ${dest}`);
JS
if [ $installed = 0 ]; then
  say "Building"
  npm run -s build || exit 1
fi
# The static checks are independent and each mostly uses one core: two lanes at once, each lane's output
# printed whole when both are done.
say "Typecheck, lint and format check"
CHECKS=$(mktemp -d /tmp/drover-checks-XXXX)
(npm run -s typecheck && { npm run -s format:check || { echo '!!! code is not formatted: run npm run format'; exit 1; }; }) >"$CHECKS/a" 2>&1 &
lane_a=$!
npm run -s lint >"$CHECKS/b" 2>&1 &
lane_b=$!
wait $lane_a; rc_a=$?
wait $lane_b; rc_b=$?
cat "$CHECKS/a" "$CHECKS/b"
rm -rf "$CHECKS"
[ $rc_a -ne 0 ] && { loud "typecheck or format check failed"; exit 1; }
[ $rc_b -ne 0 ] && { loud "lint failed"; exit 1; }

# --- 3. Docker Engine
if command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  say "Starting dockerd"
  (dockerd --iptables=false --ip-masq=false >/tmp/drover-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { loud "dockerd did not start (see /tmp/drover-dockerd.log)"; tail -20 /tmp/drover-dockerd.log; }
fi

# --- 4. Test images, built locally (no registry is reachable)
if [ -f scripts/build-test-images.sh ] && docker info >/dev/null 2>&1; then
  say "Building test images"
  bash scripts/build-test-images.sh || loud "building test images failed"
fi

# --- 5. Every test
say "Running tests"
REPORT=$(mktemp /tmp/drover-vitest-XXXX.json)
npx vitest run --project unit --project e2e --reporter=default --reporter=json --outputFile.json="$REPORT" "$@"
rc=$?

SUMMARY=$(mktemp /tmp/drover-summary-XXXX.txt)
node --input-type=module - "$REPORT" "$rc" >"$SUMMARY" <<'JS'
import { readFileSync } from 'node:fs';
const [report, rc] = process.argv.slice(2);
let r;
try { r = JSON.parse(readFileSync(report, 'utf8')); } catch { console.log(`vitest wrote no report; exit ${rc}`); process.exit(Number(rc) || 1); }
const skipped = [];
for (const f of r.testResults ?? []) for (const t of f.assertionResults ?? []) {
  if (t.status === 'skipped' || t.status === 'pending' || t.status === 'todo') skipped.push(`${f.name.replace(process.cwd() + '/', '')} > ${t.fullName}`);
}
const passed = r.numPassedTests ?? 0, failed = r.numFailedTests ?? 0;
// Name every failed test (and a failed file that never ran a test) with the first line of its error, so the
// closing lines of a CI log say what broke without scrolling back through the whole run. A test that passed
// only on its retry is named too: it is flaky and worth fixing, even though it does not fail the run.
const firstLine = (m) => String(m ?? '').split('\n').find((l) => l.trim()) ?? '';
const failures = [], flaky = [];
for (const f of r.testResults ?? []) {
  const file = f.name.replace(process.cwd() + '/', '');
  let fileHadFailedTest = false;
  for (const t of f.assertionResults ?? []) {
    if (t.status === 'failed') { fileHadFailedTest = true; failures.push(`${file} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`); }
    else if (t.status === 'passed' && (t.failureMessages?.length ?? 0) > 0) flaky.push(`${file} > ${t.fullName}: ${firstLine(t.failureMessages[0])}`);
  }
  if (f.status === 'failed' && !fileHadFailedTest) failures.push(`${file}: ${firstLine(f.message)}`);
}
if (flaky.length) {
  console.log(`\n!!! ${flaky.length} test(s) passed only on retry (flaky):`);
  for (const s of flaky) console.log(`!!!   ${s.slice(0, 300)}`);
}
if (failures.length) {
  console.log(`\n!!! ${failures.length} FAILED:`);
  for (const s of failures) console.log(`!!!   ${s.slice(0, 300)}`);
}
if (skipped.length) {
  console.log(`\n!!! ${skipped.length} test(s) SKIPPED:`);
  for (const s of skipped) console.log(`!!!   ${s}`);
}
let code = Number(rc);
if (process.env.CI === 'true' && skipped.length) { console.log('!!! CI=true: skipped tests fail the run'); code = code || 1; }
if ((r.numFailedTestSuites ?? 0) > 0 && failed === 0) console.log(`!!! ${r.numFailedTestSuites} test file(s) failed to load`);
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped.length} skipped`);
process.exit(code);
JS
test_rc=$?

# --- 6. Benchmarks, quick modes only: they keep the benchmark code working and print their figures; they
# fail only on wrong work (a missing placement, a failed request), never on time.
say "Benchmarks (quick)"
npm run -s bench -- all --quick
bench_rc=$?
[ $bench_rc -ne 0 ] && loud "benchmarks failed (exit $bench_rc)"

say "Done"
# The test summary comes last, so the closing line is the test count.
cat "$SUMMARY"
[ $test_rc -ne 0 ] && exit $test_rc
exit $bench_rc
