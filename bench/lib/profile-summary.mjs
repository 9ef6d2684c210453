#!/usr/bin/env node
/* global process, console */
// Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time per function, heaviest first, so
// BENCHMARKS.md can say where time goes. Usage: node bench/lib/profile-summary.mjs DIR_OR_FILE [TOP]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './common.mjs';

/** Lines like "23.4%  1234 ms  functionName  dist/state/tables.js:88", heaviest first. */
export function summarizeProfiles(path, top = 20) {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(path, f))
    : [path];
  const self = new Map();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8'));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    // timeDeltas[i] is the time before samples[i] was taken: attribute it to that sample's node.
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]);
      const dt = p.timeDeltas[i] ?? 0;
      const cf = n.callFrame;
      const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
      const key = `${cf.functionName || '(anonymous)'}  ${where}`.trim();
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    }
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(
      ([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`,
    );
}

function shortUrl(url) {
  const p = url.replace(/^file:\/\//, '');
  return p.startsWith(repoRoot) ? relative(repoRoot, p) : basename(p);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [path, top] = process.argv.slice(2);
  if (!path) {
    console.error('usage: profile-summary.mjs DIR_OR_FILE [TOP]');
    process.exit(2);
  }
  for (const l of summarizeProfiles(path, Number(top ?? 30))) console.log(l);
}
