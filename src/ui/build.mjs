// Builds the web UI into dist/ui/static: the static files (index.html, CSS, icon) copied, the TypeScript in
// app/ compiled to ES modules by the project's tsc. No bundler: browsers load the modules as they are.
// Run by `npm run build` after the server build.
//
// The new tree is built beside the old one and swapped in by rename, so an agent serving the UI while a build
// runs never finds it half there (and two builds at once do not share a directory).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '..', '..', 'dist', 'ui', 'static');
const next = `${out}.new-${process.pid}`;
const old = `${out}.old-${process.pid}`;

try {
  cpSync(join(here, 'static'), next, { recursive: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.build.json'), '--outDir', join(next, 'app')], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`tsc exited with ${r.status ?? r.signal}`);
  if (existsSync(out)) renameSync(out, old);
  renameSync(next, out);
} catch (e) {
  process.stderr.write(`web UI build failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
} finally {
  rmSync(next, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
}
