import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nullLogger } from '../logging/index.js';
import { createServer, type Server } from './index.js';
import { newFakeScheduler } from './testing/fake-scheduler.js';
import { Keyring } from './keyring.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-secure-keyring-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
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
    expect(() => again.keyring.remove(old!.KeyID)).toThrow(/active key/);
    const fresh = again.keyring.rotate(true);
    await expect
      .poll(
        () => {
          try {
            again.keyring.remove(old!.KeyID);
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
    s.keyring.rotate(false);
    expect(() => s.keyring.remove(old!.KeyID)).toThrow(/still encrypts variables/);
    expect((await s.vars.get('default', 'x')).value?.Items).toEqual({ a: 'b' });
  });
});
