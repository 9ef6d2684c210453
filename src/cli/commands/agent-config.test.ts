import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../agent/index.js';
import { buildAgentConfig, fromNomadConfig } from './agent-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-agent-cfg-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Stand-ins for the agent module's defaults and merge, so the test does not load the agent. */
const mod = {
  defaultConfig: (dev: boolean) => ({ dev, dataDir: '.d', bindAddr: '127.0.0.1', ports: { http: 4646, dns: 8600 }, client: { enabled: dev, servers: [] as string[], nodeClass: '' } }) as unknown as AgentConfig,
  mergeConfig<T>(base: T, over: unknown): T {
    const merge = (b: unknown, o: unknown): unknown => {
      if (typeof b !== 'object' || b === null || Array.isArray(b) || typeof o !== 'object' || o === null || Array.isArray(o)) return o;
      const out: Record<string, unknown> = { ...(b as Record<string, unknown>) };
      for (const [k, v] of Object.entries(o)) out[k] = k in out ? merge(out[k], v) : v;
      return out;
    };
    return merge(base, over) as T;
  },
};

describe('agent configuration', () => {
  it("maps Nomad's agent config keys, including repeated blocks as lists", () => {
    expect(
      fromNomadConfig({
        data_dir: '/var/d',
        bind_addr: '0.0.0.0',
        log_level: 'DEBUG',
        ports: { http: 5646 },
        client: [{ enabled: true, servers: ['10.0.0.1:4647'], node_class: 'gpu' }],
        plugin: [{ raw_exec: [{ config: [{ enabled: true }] }] }],
      }),
    ).toEqual({
      dataDir: '/var/d',
      bindAddr: '0.0.0.0',
      logLevel: 'debug',
      ports: { http: 5646 },
      client: { enabled: true, servers: ['10.0.0.1:4647'], nodeClass: 'gpu' },
      plugins: { raw_exec: { config: { enabled: true } } },
    });
  });

  it('applies defaults, then config files in order, then flags', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    await writeFile(a, JSON.stringify({ data_dir: '/from/a', ports: { http: 1111 } }));
    await writeFile(b, JSON.stringify({ ports: { http: 2222 }, client: { node_class: 'web' } }));
    const cfg = (await buildAgentConfig({ dev: true, configFiles: [a, b], bindAddr: '127.0.0.2' }, mod)) as unknown as Record<string, unknown>;
    expect(cfg).toMatchObject({ dev: true, dataDir: '/from/a', bindAddr: '127.0.0.2', ports: { http: 2222, dns: 8600 }, client: { enabled: true, nodeClass: 'web' } });
  });

  it('refuses HCL config files with a clear message', async () => {
    await expect(buildAgentConfig({ dev: true, configFiles: [join(dir, 'agent.hcl')] }, mod)).rejects.toThrow('only JSON agent config files are supported so far');
  });
});
