/**
 * The servers' keyring for variables encrypted at rest (Nomad's root keyring): AES-256-GCM data keys, one active.
 * Each key is a file `<data_dir>/server/keystore/<KeyID>.json` (directory 0700, file 0600) holding the key in
 * base64 with its metadata; the state store (SQLite) never sees a key, and a variable's items never reach it
 * in plaintext:
 *
 *   write: Items ──JSON──► AES-256-GCM(active key, 12-byte random nonce, AAD = namespace + "\0" + path)
 *          ──► row { Items: {}, KeyID, Data: base64(nonce ‖ ciphertext ‖ tag) }
 *   read:  row ──► key by KeyID ──► decrypt (the AAD binds it to its path: a row copied elsewhere fails)
 *
 *   rotate: new key active, old key inactive (still decrypts); with `full`, rows move to the new key in the
 *           background (the server's re-encryption pass); remove: refused for the active key and for a key that
 *           still encrypts any variable.
 *
 * A throwaway server (`:memory:`) keeps its keys in memory only.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { DroverError } from '../errors/index.js';

/** Nomad's RootKeyMeta, as /v1/operator/keyring/keys lists it. */
export interface RootKeyMeta {
  KeyID: string;
  Algorithm: 'aes256-gcm';
  CreateTime: number;
  CreateIndex: number;
  ModifyIndex: number;
  State: 'active' | 'inactive';
}

interface StoredKey extends RootKeyMeta {
  Key: string;
}

/** What a stored variable row carries instead of its items. */
export interface SealedItems {
  KeyID: string;
  Data: string;
}

const NONCE = 12;
const TAG = 16;

export class Keyring {
  private readonly keys = new Map<string, StoredKey>();
  private readonly dir: string | undefined;

  /** `dataDir`: the server's data dir, or undefined / ':memory:' to keep keys in memory. */
  constructor(
    dataDir: string | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = dataDir && dataDir !== ':memory:' ? join(dataDir, 'keystore') : undefined;
    if (this.dir) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
      for (const name of readdirSync(this.dir)) {
        if (!name.endsWith('.json')) continue;
        const file = join(this.dir, name);
        let k: StoredKey;
        try {
          k = JSON.parse(readFileSync(file, 'utf8')) as StoredKey;
        } catch (e) {
          throw new DroverError('Internal', `keyring file ${file} is not valid JSON: ${(e as Error).message}`, {
            cause: e,
          });
        }
        if (typeof k.KeyID !== 'string' || Buffer.from(k.Key ?? '', 'base64').length !== 32)
          throw new DroverError('Internal', `keyring file ${file} does not hold a 256-bit key`);
        this.keys.set(k.KeyID, k);
      }
    }
    if (this.active() === undefined) this.rotate();
  }

  /** Every key's metadata, oldest first. */
  list(): RootKeyMeta[] {
    return [...this.keys.values()].sort((a, b) => a.CreateTime - b.CreateTime).map(({ Key: _key, ...meta }) => meta);
  }

  active(): StoredKey | undefined {
    let found: StoredKey | undefined;
    for (const k of this.keys.values())
      if (k.State === 'active' && (!found || k.CreateTime > found.CreateTime)) found = k;
    return found;
  }

  /** A new active key; the others become inactive (they still decrypt). */
  rotate(): RootKeyMeta {
    const key: StoredKey = {
      KeyID: randomUUID(),
      Algorithm: 'aes256-gcm',
      CreateTime: this.now() * 1e6,
      CreateIndex: 0,
      ModifyIndex: 0,
      State: 'active',
      Key: randomBytes(32).toString('base64'),
    };
    // On disk before it is used, so no variable is ever sealed with a key that is not stored.
    this.writeFile(key);
    for (const k of [...this.keys.values()]) {
      if (k.State === 'active') this.save({ ...k, State: 'inactive' });
    }
    this.keys.set(key.KeyID, key);
    const { Key: _k, ...meta } = key;
    return meta;
  }

  /** Deletes an inactive key; `inUse` tells whether any variable is still sealed with it. */
  remove(keyID: string, inUse: (keyID: string) => boolean): void {
    const k = this.keys.get(keyID);
    if (!k) throw new DroverError('NotFound', `root key "${keyID}" not found`);
    if (k.State === 'active') throw new DroverError('Conflict', `root key "${keyID}" is the active key; rotate first`);
    if (inUse(keyID))
      throw new DroverError(
        'Conflict',
        `root key "${keyID}" still encrypts variables; rotate with full = true and wait, then remove it`,
      );
    if (this.dir) rmSync(join(this.dir, `${keyID}.json`), { force: true });
    this.keys.delete(keyID);
  }

  seal(namespace: string, path: string, items: Record<string, string>): SealedItems {
    const k = this.active()!;
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', Buffer.from(k.Key, 'base64'), nonce);
    c.setAAD(aad(namespace, path));
    const body = Buffer.concat([c.update(JSON.stringify(items), 'utf8'), c.final()]);
    return { KeyID: k.KeyID, Data: Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64') };
  }

  open(namespace: string, path: string, sealed: SealedItems): Record<string, string> {
    const k = this.keys.get(sealed.KeyID);
    if (!k)
      throw new DroverError(
        'Internal',
        `variable "${path}" in namespace "${namespace}" is encrypted with key "${sealed.KeyID}", which is not in the keyring`,
      );
    const raw = Buffer.from(sealed.Data, 'base64');
    if (raw.length < NONCE + TAG)
      throw new DroverError('Internal', `variable "${path}" in namespace "${namespace}": encrypted data is truncated`);
    try {
      const d = createDecipheriv('aes-256-gcm', Buffer.from(k.Key, 'base64'), raw.subarray(0, NONCE));
      d.setAAD(aad(namespace, path));
      d.setAuthTag(raw.subarray(raw.length - TAG));
      const text = Buffer.concat([d.update(raw.subarray(NONCE, raw.length - TAG)), d.final()]).toString('utf8');
      return JSON.parse(text) as Record<string, string>;
    } catch (e) {
      throw new DroverError(
        'Internal',
        `variable "${path}" in namespace "${namespace}" cannot be decrypted with key "${sealed.KeyID}"`,
        { cause: e },
      );
    }
  }

  private save(k: StoredKey): void {
    this.writeFile(k);
    this.keys.set(k.KeyID, k);
  }

  private writeFile(k: StoredKey): void {
    if (!this.dir) return;
    const file = join(this.dir, `${k.KeyID}.json`);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(k), { mode: 0o600 });
    renameSync(tmp, file);
  }

  /** For tests: whether a key file exists. */
  hasFile(keyID: string): boolean {
    return this.dir !== undefined && existsSync(join(this.dir, `${keyID}.json`));
  }
}

function aad(namespace: string, path: string): Buffer {
  return Buffer.from(`${namespace}\u0000${path}`, 'utf8');
}
