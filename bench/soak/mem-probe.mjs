/* global process, setInterval */
// Preloaded into the soak's agent (`node --import`) when the soak runs with `--memory`: every
// DROVER_MEM_PROBE_MS it appends one JSON line to DROVER_MEM_PROBE_FILE with the agent's own view of its memory:
// process.memoryUsage() (rss, V8 heap total and used, external, arrayBuffers) and, from /proc/self/status, the
// resident set split into anonymous memory (V8 heaps, malloc: SQLite's page cache, native buffers), file-backed
// pages (code, mapped libraries) and shared memory (SQLite's WAL index, the -shm file). Nothing else.
import { appendFileSync, readFileSync } from 'node:fs';

const file = process.env.DROVER_MEM_PROBE_FILE;
const every = Number(process.env.DROVER_MEM_PROBE_MS || 5000);

function status() {
  const out = {};
  try {
    const text = readFileSync('/proc/self/status', 'utf8');
    for (const k of ['RssAnon', 'RssFile', 'RssShmem']) {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text);
      if (m) out[k] = Number(m[1]) * 1024;
    }
  } catch {
    // not Linux: memoryUsage() alone
  }
  return out;
}

if (file) {
  const t0 = Date.now();
  setInterval(() => {
    const m = process.memoryUsage();
    appendFileSync(file, JSON.stringify({ t: Date.now() - t0, ...m, ...status() }) + '\n');
  }, every).unref();
}
