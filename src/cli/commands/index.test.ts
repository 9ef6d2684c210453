import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CommandSpec } from '../command.js';
import { runCli } from '../run.js';
import { COMMAND_TABLE, findCommand, isGroup, loadCommands } from './index.js';

const isSpec = (v: unknown): v is CommandSpec =>
  typeof v === 'object' &&
  v !== null &&
  Array.isArray((v as CommandSpec).path) &&
  typeof (v as CommandSpec).run === 'function';

const wordsOf = (s: CommandSpec) => [s.path, ...(s.aliases ?? []), ...(s.legacy ?? [])].map((p) => p.join(' '));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    stdout: { write: (s) => (out += s) },
    stderr: { write: (s) => (err += s) },
    env: {},
  });
  return { code, out, err };
}

describe('the command table', () => {
  it("gives each spec's path, aliases and legacy verbs as its words", async () => {
    const specs = await loadCommands();
    expect(specs.map(wordsOf)).toEqual(COMMAND_TABLE.map((e) => [...e.words]));
  });

  it('lists every command that a module of commands/ exports, once', async () => {
    const exported = new Set<CommandSpec>();
    const dir = new URL('.', import.meta.url);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts') && n !== 'index.ts')) {
      const mod = (await import(new URL(f, dir).href)) as Record<string, unknown>;
      for (const v of Object.values(mod)) if (isSpec(v)) exported.add(v);
    }
    const listed = await loadCommands();
    expect(new Set(listed).size).toBe(listed.length);
    expect(exported.size).toBeGreaterThan(50);
    expect([...exported].filter((s) => !listed.includes(s)).map((s) => s.path.join(' '))).toEqual([]);
  });

  it('finds the command by the longest run of leading words, legacy verbs included', () => {
    expect(findCommand(['job', 'run', 'web.hcl'])?.words).toBe('job run');
    expect(findCommand(['run', 'web.hcl'])?.words).toBe('run');
    expect(findCommand(['gateway', 'routes'])?.words).toBe('gateway routes');
    expect(findCommand(['operator', 'root', 'keyring', 'list'])?.words).toBe('operator root keyring list');
    expect(findCommand(['job'])).toBeUndefined();
    expect(findCommand(['nosuch'])).toBeUndefined();
    expect(isGroup('gateway')).toBe(true);
    expect(isGroup('job run')).toBe(false);
  });
});

describe('help with lazily loaded commands', () => {
  it('still lists every group and top-level command', async () => {
    const { code, out } = await cli(['--help']);
    expect(code).toBe(0);
    const top = new Set(COMMAND_TABLE.flatMap((e) => e.words.map((w) => w.split(' ')[0]!)));
    for (const word of top) expect(out).toMatch(new RegExp(`^  ${word}\\b`, 'm'));
  });

  it("shows one command's help with its own flags and the global ones", async () => {
    const { code, out } = await cli(['-region', 'eu', 'job', 'run', '-help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: drover job run [options] <file>');
    expect(out).toContain('--check-index <index>');
    expect(out).toContain('--address <addr>');
  });

  it('suggests the nearest command for a misspelt one', async () => {
    const { code, err } = await cli(['job', 'rnu']);
    expect(code).not.toBe(0);
    expect(err).toContain('(Did you mean run?)');
  });

  it('rewrites the single-dash flags of the command it loads', async () => {
    const { code, err } = await cli(['job', 'run', '-check-index=x', 'web.hcl']);
    expect(code).not.toBe(0);
    expect(err).toContain('--check-index expects an integer, got "x"');
  });
});
