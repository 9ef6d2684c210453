// Builds the web UI into dist/ui/static: the static files (index.html, CSS, icon) copied, the TypeScript in
// app/ compiled to ES modules by the project's tsc, and Preact's and xterm.js's ES module files (xterm's one
// bundled module and its stylesheet) copied from node_modules into vendor/. No bundler: browsers load the
// modules as they are. The bare specifiers ('preact', 'preact/hooks', '@xterm/xterm', the last imported
// dynamically when a terminal opens) are rewritten to relative paths into vendor/, since an import map would be
// an inline script and the UI's Content-Security-Policy allows none. Run by `npm run build` after the server build.
//
// The new tree is built beside the old one and swapped in by rename, so an agent serving the UI while a build
// runs never finds it half there (and two builds at once do not share a directory).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(here, '..', '..', 'dist', 'ui', 'static');
const next = `${out}.new-${process.pid}`;
const old = `${out}.old-${process.pid}`;
const require = createRequire(import.meta.url);

/** The vendored modules: specifier → file under node_modules, and its name in vendor/. */
const VENDOR = {
  preact: ['preact/dist/preact.module.js', 'preact.js'],
  'preact/hooks': ['preact/hooks/dist/hooks.module.js', 'hooks.js'],
  '@xterm/xterm': ['@xterm/xterm/lib/xterm.mjs', 'xterm.js'],
};
/** Other files vendored as they are: file under node_modules → its name in vendor/. */
const VENDOR_FILES = {
  '@xterm/xterm/css/xterm.css': 'xterm.css',
  '@xterm/xterm/LICENSE': 'LICENSE.xterm.txt',
  'preact/LICENSE': 'LICENSE.preact.txt',
};

/**
 * Rewrites `from "preact"`, `import 'preact/hooks'` and `import("@xterm/xterm")` to `./vendor/...` relative to
 * `file`.
 */
function rewriteImports(file, vendorDir) {
  const text = readFileSync(file, 'utf8');
  const out = text.replace(
    /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(preact(?:\/hooks)?|@xterm\/xterm)\2/g,
    (all, kw, q, spec) => {
      const target = VENDOR[spec];
      if (!target) return all;
      let rel = relative(dirname(file), join(vendorDir, target[1])).split('\\').join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      return `${kw}${q}${rel}${q}`;
    },
  );
  if (out !== text) writeFileSync(file, out);
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  );
}

try {
  cpSync(join(here, 'static'), next, { recursive: true });
  const tsc = require.resolve('typescript/bin/tsc');
  // tsc's rootDir is src/ (the UI imports the model's types from src/structs and src/api), so it writes
  // ui/app/*.js and, for the type-only imports, empty modules beside it; only ui/app is kept.
  const emitted = join(next, '.tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.build.json'), '--outDir', emitted], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`tsc exited with ${r.status ?? r.signal}`);
  renameSync(join(emitted, 'ui', 'app'), join(next, 'app'));
  rmSync(emitted, { recursive: true, force: true });
  const vendorDir = join(next, 'vendor');
  // Preact's `exports` map names no dist files, so they are found from its package.json (node_modules/preact).
  const modules = dirname(dirname(require.resolve('preact/package.json')));
  for (const [from, name] of Object.values(VENDOR)) cpSync(join(modules, from), join(vendorDir, name));
  for (const [from, name] of Object.entries(VENDOR_FILES)) cpSync(join(modules, from), join(vendorDir, name));
  for (const f of [...walk(join(next, 'app')), ...walk(vendorDir)]) rewriteImports(f, vendorDir);
  if (existsSync(out)) renameSync(out, old);
  renameSync(next, out);
} catch (e) {
  process.stderr.write(`web UI build failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
} finally {
  rmSync(next, { recursive: true, force: true });
  rmSync(old, { recursive: true, force: true });
}
