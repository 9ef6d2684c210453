/**
 * Where Nomad's conformance data lives, and what a test does when it is not there.
 *
 * The data (Nomad's job files, API types, scheduler truth tables) sits outside the repository, in
 * `<repo>/../shared/conformance/nomad`, for licence reasons; `DROVER_CONFORMANCE_DIR` points elsewhere. A fresh
 * clone without it should hear so once, with how to get it, rather than see fifteen files fail on ENOENT:
 * the vitest global setup (`conformance-setup.ts`) prints that once, and the tests that read the data skip
 * through `describeConformance` / `itConformance` (`describe-conformance.ts`). This file imports no test
 * runner, so the jobspec conformance runner and benchmarks may use it too. Under `CI=true` a missing copy fails the run instead, so a
 * pipeline never passes by skipping the suites that matter.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The environment variable that points at the `nomad` conformance directory. */
export const CONFORMANCE_ENV = 'DROVER_CONFORMANCE_DIR';

/** The repository root, found from this file's place in it (src/testing/). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/** `$DROVER_CONFORMANCE_DIR`, or `<repo>/../shared/conformance/nomad`. */
export function conformanceDirFrom(env: NodeJS.ProcessEnv): string {
  const set = env[CONFORMANCE_ENV];
  return set ? resolve(set) : resolve(REPO_ROOT, '../shared/conformance/nomad');
}

/** The conformance directory for this run. */
export const CONFORMANCE_DIR = conformanceDirFrom(process.env);

/** A marker every copy of the data has; a directory without it is not the data. */
const MARKER = 'jobspec/index.json';

export function hasConformanceDataAt(dir: string): boolean {
  return existsSync(join(dir, MARKER));
}

/** Whether the data is there: tests that read it run only then. */
export const HAS_CONFORMANCE_DATA = hasConformanceDataAt(CONFORMANCE_DIR);

/** The one message a run without the data prints (or, under CI=true, fails with). */
export function missingDataMessage(dir: string): string {
  return [
    `Nomad's conformance data is not at ${dir}.`,
    'It lives outside the repository for licence reasons, so the tests that compare Drover with Nomad',
    '(jobspec fixtures, API shapes, constraint truth tables, e2e job files) are SKIPPED in this run.',
    'To run them: put the data beside the clone as ../shared/conformance/nomad (what it is and where it comes',
    `from: README.md, "Nomad conformance data"), or set ${CONFORMANCE_ENV} to the nomad directory of a copy.`,
    'Under CI=true a missing copy fails the run.',
  ].join('\n');
}

/**
 * What the global setup does: nothing when the data is there; under CI=true, throws; otherwise returns the
 * message to print once. Split from the setup so a test can drive it with a made-up environment.
 */
export function checkConformanceData(env: NodeJS.ProcessEnv): { ok: true } | { ok: false; message: string } {
  const dir = conformanceDirFrom(env);
  if (hasConformanceDataAt(dir)) return { ok: true };
  const message = missingDataMessage(dir);
  if (env['CI'] === 'true' || env['CI'] === '1') throw new Error(message);
  return { ok: false, message };
}

/** A path inside the conformance directory: `conformancePath('e2e-jobs', 'x.nomad')`. */
export function conformancePath(...parts: string[]): string {
  return join(CONFORMANCE_DIR, ...parts);
}

/**
 * The names of the files in a directory of the data that match `pattern`, sorted; none when the data is
 * missing, so a describe body that makes one test per file can run (and be skipped) without it.
 */
export function conformanceFiles(rel: string, pattern: RegExp): string[] {
  if (!HAS_CONFORMANCE_DATA) return [];
  return readdirSync(conformancePath(rel))
    .filter((f) => pattern.test(f))
    .sort();
}

/** Reads a text file of the data; call it inside a conformance test (or its describe body). */
export function readConformanceText(...parts: string[]): string {
  return readFileSync(conformancePath(...parts), 'utf8');
}

/** Reads and parses a JSON file of the data; call it inside a conformance test (or its describe body). */
export function readConformanceJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(conformancePath(...parts), 'utf8')) as T;
}
