import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DroverClient } from '../../api/index.js';
import { testAgent } from '../../http/testing/test-api.js';
import { captureCli } from '../testing/run-cli.js';
import { cleanupAfterEach, tempDirFor } from '../../testing/cleanup.js';

const cli = (argv: string[], address = 'http://127.0.0.1:1') => captureCli(argv, { DROVER_ADDR: address });

const cleanups = cleanupAfterEach();

function tempDir(): string {
  return tempDirFor(cleanups, 'drover-snap-');
}

async function agentOn(dataDir: string) {
  const { http, stop } = await testAgent({ dataDir: join(dataDir, 'server') });
  return { http, stop, client: new DroverClient({ address: http.address }) };
}

describe('drover operator snapshot', () => {
  it('saves a snapshot from a running agent and restores it into a stopped one, which then serves it', async () => {
    const a = await agentOn(tempDir());
    cleanups.push(a.stop);
    await a.client.variables.put('snap/one', { a: '1' });
    const file = join(tempDir(), 'state.snap');
    const saved = await cli(['operator', 'snapshot', 'save', file], a.http.address);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect(saved.stdout).toContain(`State file written to ${file}`);
    // Written after the snapshot: a restore must take the state back to before it.
    await a.client.variables.put('snap/two', { b: '2' });

    const target = tempDir();
    const b = await agentOn(target);
    await b.client.variables.put('other/x', { x: 'y' });
    await b.stop();
    const restored = await cli(['operator', 'snapshot', 'restore', '-data-dir', target, file]);
    expect(restored.code).toBe(0);
    const c = await agentOn(target);
    cleanups.push(c.stop);
    expect((await c.client.variables.get('snap/one')).value.Items).toEqual({ a: '1' });
    expect(await c.client.variables.get('snap/two').catch(() => null)).toBeNull();
    expect(await c.client.variables.get('other/x').catch(() => null)).toBeNull();
  });

  it('refuses to restore a file that is not a snapshot, naming it', async () => {
    const r = await cli(['operator', 'snapshot', 'restore', '-data-dir', tempDir(), '/etc/hostname']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/etc/hostname is not a Drover snapshot');
  });
});
