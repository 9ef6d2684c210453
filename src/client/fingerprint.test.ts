import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostFacts, loadNodeIdentity } from './fingerprint.js';

const dir = mkdtempSync(join(tmpdir(), 'drover-fp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fingerprint', () => {
  it('reads cpu MHz and model from /proc/cpuinfo and the os from os-release', () => {
    writeFileSync(join(dir, 'cpuinfo'), 'processor\t: 0\nmodel name\t: Test CPU 9000\ncpu MHz\t\t: 2596.130\n');
    writeFileSync(join(dir, 'os-release'), 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n');
    const f = hostFacts(dir, join(dir, 'cpuinfo'), join(dir, 'os-release'));
    expect(f).toMatchObject({
      mhz: 2596,
      modelName: 'Test CPU 9000',
      osName: 'debian',
      osVersion: '12',
      kernelName: 'linux',
    });
    expect(f.cores).toBeGreaterThan(0);
    expect(f.memoryBytes).toBeGreaterThan(0);
  });

  it('falls back when /proc/cpuinfo has no frequency', () => {
    const f = hostFacts(dir, join(dir, 'missing'), join(dir, 'missing'));
    expect(f.mhz).toBeGreaterThan(0);
    expect(f.osName).toBe('linux');
  });

  it('keeps the node ID stable across restarts', () => {
    const a = loadNodeIdentity(dir);
    expect(loadNodeIdentity(dir)).toEqual(a);
    expect(readFileSync(join(dir, 'client', 'node-id'), 'utf8').trim()).toBe(a.id);
  });
});
