import { describe, expect, it } from 'vitest';
import { builtinDrivers, DRIVER_FACTORIES } from './index.js';
import type { TaskDriver } from './index.js';
import { nullLogger } from '../logging/index.js';

/** Health of the drivers this test is about; docker and exec depend on the host, so they are checked apart. */
const health = async (
  plugins: Parameters<typeof builtinDrivers>[0],
  dev: boolean,
  only = ['raw_exec', 'mock_driver'],
) => {
  const out: Record<string, string> = {};
  for (const d of builtinDrivers(plugins, { dev }))
    if (only.includes(d.name)) out[d.name] = (await d.fingerprint()).health;
  return out;
};

const names = (ds: TaskDriver[]) => ds.map((d) => d.name).sort();

describe('builtin driver registry', () => {
  it('leaves raw_exec disabled and mock_driver out outside -dev, as Nomad', async () => {
    expect(await health({}, false)).toEqual({ raw_exec: 'undetected' });
    expect(names(builtinDrivers({}, { dev: false }))).toEqual(['connect_proxy', 'docker', 'exec', 'raw_exec']);
  });

  it('enables raw_exec and mock_driver in -dev', async () => {
    expect(await health({}, true)).toEqual({ raw_exec: 'healthy', mock_driver: 'healthy' });
  });

  it('enables raw_exec from its plugin config block and lets a block disable it in -dev', async () => {
    expect((await health({ raw_exec: { config: { enabled: true } } }, false)).raw_exec).toBe('healthy');
    expect((await health({ raw_exec: { config: { enabled: false } } }, true)).raw_exec).toBe('undetected');
  });

  it('leaves docker and exec out when their plugin block sets enabled = false, and honours the denylist', () => {
    const ds = builtinDrivers(
      { docker: { config: { enabled: false } }, exec: { config: { enabled: false } } },
      { dev: true },
    );
    expect(names(ds)).toEqual(['connect_proxy', 'mock_driver', 'raw_exec']);
    expect(names(builtinDrivers({}, { dev: true, denylist: ['docker', 'mock_driver'] }))).toEqual([
      'connect_proxy',
      'exec',
      'raw_exec',
    ]);
  });

  it('refuses privileged docker tasks unless the plugin allows them', () => {
    const docker = (plugins: Parameters<typeof builtinDrivers>[0]) =>
      builtinDrivers(plugins, { dev: true }).find((d) => d.name === 'docker')!;
    const task = { image: 'busybox', privileged: true };
    expect(docker({}).validateConfig(task).join('\n')).toMatch(/privileged containers are not allowed/);
    expect(docker({ docker: { config: { allow_privileged: true } } }).validateConfig(task)).toEqual([]);
  });

  it("reads the docker engine's unix socket from the plugin's endpoint", async () => {
    const docker = builtinDrivers({ docker: { config: { endpoint: 'unix:///nonexistent/docker.sock' } } }, {}).find(
      (d) => d.name === 'docker',
    )!;
    const fp = await docker.fingerprint();
    expect(fp.health).toBe('undetected');
    expect(fp.healthDescription).toContain('/nonexistent/docker.sock');
  });

  it('gives the docker and exec factories the agent-wide event sink', () => {
    const sink = () => {};
    const seen: string[] = [];
    for (const f of DRIVER_FACTORIES) {
      if (f.name !== 'docker' && f.name !== 'exec') continue;
      const d = f.create({ options: {}, enabled: true, dev: false, logger: nullLogger, onEvent: sink }) as unknown as {
        deps?: { onEvent?: unknown };
        options?: { onEvent?: unknown };
      };
      if ((d.deps?.onEvent ?? d.options?.onEvent) === sink) seen.push(f.name);
    }
    expect(seen.sort()).toEqual(['docker', 'exec']);
  });
});
