/**
 * `drover agent -config FILE` refuses every key it would not act on, naming the file, the line and the block,
 * and exits 1 before starting anything: no key of an agent config file is silently ignored.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { DROVER } from './harness/agent.js';

describe('drover agent -config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const agent = (file: string, body: string) => {
    const path = join(dir, file);
    writeFileSync(path, body);
    const r = spawnSync(DROVER, ['agent', '-config', path, '-data-dir', join(dir, 'data'), '-http-port', '0'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    return { path, code: r.status, out: r.stdout + r.stderr };
  };

  it('exits 1 on an unknown key, printing file:line and the block it is in', () => {
    const r = agent('bad.hcl', 'client {\n  enabled = true\n  foo = "bar"\n}\n');
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(`${r.path}:3: unknown key "foo" in client {}`);
    expect(r.out).not.toMatch(/API at http/);
  });

  it('exits 1 on Nomad keys Drover does not act on, saying they are not supported and why', () => {
    const r = agent(
      'nomad.hcl',
      'server {\n  enabled = true\n  bootstrap_expect = 3\n  retry_join = ["10.0.0.1"]\n}\n',
    );
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(
      `${r.path}:3: "bootstrap_expect" in server {} is not supported: Drover servers form one cluster by sharing etcd`,
    );
    expect(r.out).toContain(`${r.path}:4: "retry_join" in server {} is not supported`);
  });

  it('names the line of an unknown key in a JSON config file', () => {
    const r = agent('bad.json', JSON.stringify({ server: { enabled: true }, client: { nodeclass: 'x' } }, null, 2));
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(`${r.path}:6: unknown key "nodeclass" in client {}`);
  });
});
