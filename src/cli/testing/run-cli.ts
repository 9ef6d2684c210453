/**
 * The CLI run in-process as a user runs it: argv in, exit code and captured stdout/stderr out, with the clock at
 * NOW_MS so golden output stays stable. `withFakeNomad` adds a FakeNomad started before and stopped after each
 * test, the CLI pointed at it. Tests only.
 */
import { afterEach, beforeEach } from 'vitest';
import { FakeNomad } from '../../api/testing/index.js';
import { runCli, type CliDeps } from '../run.js';
import { NOW_MS } from './fixtures.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function captureCli(
  argv: string[],
  env: Record<string, string | undefined>,
  deps: CliDeps = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    argv,
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env },
    { now: () => NOW_MS, ...deps },
  );
  return { code, stdout, stderr };
}

export interface FakeNomadCli {
  /** The fake of the current test (a fresh one per test). */
  fake: FakeNomad;
  cli(argv: string[], deps?: CliDeps, env?: Record<string, string>): Promise<CliResult>;
}

/** Registers beforeEach/afterEach hooks; call at the top of a test file or describe block. */
export function withFakeNomad(defaults: () => CliDeps = () => ({})): FakeNomadCli {
  const ctx: FakeNomadCli = {
    fake: undefined as unknown as FakeNomad,
    cli: (argv, deps = {}, env = {}) =>
      captureCli(argv, { DROVER_ADDR: ctx.fake.address, ...env }, { ...defaults(), ...deps }),
  };
  beforeEach(async () => {
    ctx.fake = await new FakeNomad().start();
  });
  afterEach(async () => {
    await ctx.fake.stop();
  });
  return ctx;
}
