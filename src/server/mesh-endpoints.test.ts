import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { MemoryBackend } from '../state/index.js';
import { createServer, type Server } from './index.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

async function server(kek?: Buffer): Promise<Server> {
  const s = await createServer({
    dataDir: ':memory:',
    backend: new MemoryBackend(),
    logger: nullLogger,
    numWorkers: 1,
    ...(kek ? { sharedKeyring: { kek } } : {}),
  });
  servers.push(s);
  return s;
}

describe('the mesh CA', () => {
  it('keeps its private key wrapped by the key-encryption key when servers share one, and still issues leaves', async () => {
    const s = await server(randomBytes(32));
    const material = await s.mesh.sidecarMaterial('default', 'web');
    expect(material.CertPEM).toContain('BEGIN CERTIFICATE');
    const row = s.store.snapshot().tables.get('mesh_ca', 'root')!;
    expect(row.PrivateKey).toBe('');
    expect(row.WrappedPrivateKey).toBeTruthy();
    expect(JSON.stringify(row)).not.toContain('PRIVATE KEY');
  });

  it('keeps it in the local state as it is when there is no key-encryption key', async () => {
    const s = await server();
    await s.mesh.roots();
    const row = s.store.snapshot().tables.get('mesh_ca', 'root')!;
    expect(row.PrivateKey).toContain('PRIVATE KEY');
    expect(row.WrappedPrivateKey).toBeUndefined();
  });
});
