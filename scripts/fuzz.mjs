#!/usr/bin/env node
/* global process */
// The API fuzz suite for longer than `npm test` runs it: `npm run fuzz -- --minutes 10`.
// Runs src/http/fuzz.test.ts with FUZZ_MS set; the suite itself is bounded by that time.
import { spawnSync } from 'node:child_process';

const i = process.argv.indexOf('--minutes');
const minutes = i >= 0 ? Number(process.argv[i + 1]) : 10;
if (!Number.isFinite(minutes) || minutes <= 0) {
  process.stderr.write('usage: npm run fuzz -- --minutes N\n');
  process.exit(2);
}
const r = spawnSync('npx', ['vitest', 'run', '--project', 'unit', 'src/http/fuzz.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_MS: String(Math.round(minutes * 60_000)) },
});
process.exit(r.status ?? 1);
