import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { createServer, type Server } from './index.js';
import { newFakeScheduler } from './testing/fake-scheduler.js';
import { Keyring } from './keyring.js';
import { MemoryBackend, StateStore } from '../state/index.js';
import { cleanupAfterEach, tempDirFor } from '../testing/cleanup.js';

const cleanups = cleanupAfterEach();

function tempDir(): string {
  return tempDirFor(cleanups, 'drover-secure-keyring-');
}

async function server(dir: string): Promise<Server> {
  const s = await createServer({ dataDir: dir, logger: nullLogger, newScheduler: newFakeScheduler, numWorkers: 1 });
  cleanups.push(() => s.stop());
  return s;
}

/** Every byte the state store wrote, WAL included. */
const dbBytes = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith('state.db'))
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');

describe('the root keyring', () => {
  it('keeps its keys in 0600 files of a 0700 directory and reloads them', () => {
    const dir = tempDir();
    const k = new Keyring(dir);
    const [key] = k.list();
    expect(statSync(join(dir, 'keystore')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'keystore', `${key!.KeyID}.json`)).mode & 0o777).toBe(0o600);
    const sealed = k.seal('default', 'a/b', { pw: 's3cret' });
    expect(new Keyring(dir).open('default', 'a/b', sealed)).toEqual({ pw: 's3cret' });
  });

  it('refuses to open a sealed value moved to another path', () => {
    const k = new Keyring(undefined);
    const sealed = k.seal('default', 'a', { pw: 'x' });
    expect(() => k.open('default', 'b', sealed)).toThrow(/cannot be decrypted/);
  });

  it('stores no variable item in plaintext, and reads every variable after a full rotation that frees the old key', async () => {
    const dir = tempDir();
    const s = await server(dir);
    const planted = `planted-${Math.random().toString(36).slice(2)}`;
    for (let i = 0; i < 150; i++)
      await s.vars.put({ Namespace: 'default', Path: `app/v${i}`, Items: { password: `${planted}-${i}` } });
    await s.stop();
    expect(dbBytes(dir)).not.toContain(planted);
    expect(statSync(join(dir, 'state.db')).mode & 0o777).toBe(0o600);

    const again = await server(dir);
    expect((await again.vars.get('default', 'app/v7')).value?.Items).toEqual({ password: `${planted}-7` });
    const [old] = again.keyring.list();
    await expect(again.keyring.remove(old!.KeyID)).rejects.toThrow(/active key/);
    const fresh = await again.keyring.rotate(true);
    await expect
      .poll(
        async () => {
          try {
            await again.keyring.remove(old!.KeyID);
            return 'removed';
          } catch (e) {
            return String(e);
          }
        },
        { timeout: 10_000 },
      )
      .toBe('removed');
    expect(again.keyring.list().map((k) => [k.KeyID, k.State])).toEqual([[fresh.KeyID, 'active']]);
    for (let i = 0; i < 150; i += 37)
      expect((await again.vars.get('default', `app/v${i}`)).value?.Items).toEqual({ password: `${planted}-${i}` });
  });

  it('refuses to remove a key that still encrypts variables', async () => {
    const s = await server(tempDir());
    await s.vars.put({ Namespace: 'default', Path: 'x', Items: { a: 'b' } });
    const [old] = s.keyring.list();
    await s.keyring.rotate(false);
    await expect(s.keyring.remove(old!.KeyID)).rejects.toThrow(/still encrypts variables/);
    expect((await s.vars.get('default', 'x')).value?.Items).toEqual({ a: 'b' });
  });

  it('shares its keys through the state, wrapped with the KEK, between servers given the same KEK', async () => {
    const store = await StateStore.open({ backend: new MemoryBackend(), logger: nullLogger });
    const kek = Buffer.alloc(32, 7);
    const a = new Keyring(undefined, Date.now, { store, kek });
    await a.init();
    await a.init();
    expect(a.list()).toHaveLength(1);
    const sealed = a.seal('default', 'p', { pw: 'shared-secret' });
    const raw = JSON.stringify([...store.snapshot().tables.all('root_keys')]);
    expect(raw).not.toContain(a.active()!.Key);

    const b = new Keyring(undefined, Date.now, { store, kek });
    expect(b.open('default', 'p', sealed)).toEqual({ pw: 'shared-secret' });
    const next = await a.rotate();
    expect(b.active()?.KeyID).toBe(next.KeyID);
    expect(b.open('default', 'q', a.seal('default', 'q', { x: 'y' }))).toEqual({ x: 'y' });

    const wrong = new Keyring(undefined, Date.now, { store, kek: Buffer.alloc(32, 8) });
    expect(() => wrong.list()).toThrow(/key-encryption key .* is not the one/);
  });
});
