import { describe, expect, it } from 'vitest';
import { builtinDrivers } from './index.js';

const health = async (plugins: Parameters<typeof builtinDrivers>[0], dev: boolean) => {
  const out: Record<string, string> = {};
  for (const d of builtinDrivers(plugins, { dev })) out[d.name] = (await d.fingerprint()).health;
  return out;
};

describe('builtin driver registry', () => {
  it('leaves raw_exec disabled and mock_driver out outside -dev, as Nomad', async () => {
    expect(await health({}, false)).toEqual({ raw_exec: 'undetected' });
  });

  it('enables raw_exec and mock_driver in -dev', async () => {
    expect(await health({}, true)).toEqual({ raw_exec: 'healthy', mock_driver: 'healthy' });
  });

  it('enables raw_exec from its plugin config block and lets a block disable it in -dev', async () => {
    expect((await health({ raw_exec: { config: { enabled: true } } }, false)).raw_exec).toBe('healthy');
    expect((await health({ raw_exec: { config: { enabled: false } } }, true)).raw_exec).toBe('undetected');
  });
});
