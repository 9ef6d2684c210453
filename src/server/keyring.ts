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
 *
 * Servers sharing one state backend (etcd) share the keyring through it instead: each key is a `root_keys` row
 * holding the key wrapped with the key-encryption key every server is given (lib/kek.ts), written only by the
 * leader (so two servers starting together cannot make two active keys); every server reads the rows through
 * its store (the leader's, or a standby's replica), so a key made by one is opened by all.
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
import { unwrapWithKEK, wrapWithKEK } from '../lib/kek.js';
import type { RootKeyRow, StateStore } from '../state/index.js';

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
const KEK_PURPOSE = 'root key';

/** A keyring kept in the state backend, shared by the servers of one etcd cluster. */
export interface SharedKeyring {
  store: StateStore;
  /** The key-encryption key; undefined stores the keys unwrapped (an etcd cluster without ACLs or TLS). */
  kek: Buffer | undefined;
}

export class Keyring {
  private readonly keys = new Map<string, StoredKey>();
  private readonly dir: string | undefined;
  /** The `root_keys` index the cache was last filled at (shared mode). */
  private seenIndex = -1;

  /** `dataDir`: the server's data dir, or undefined / ':memory:' to keep keys in memory; `shared`: see above. */
  constructor(
    dataDir: string | undefined,
    private readonly now: () => number = Date.now,
    private readonly shared?: SharedKeyring,
  ) {
    this.dir = !shared && dataDir && dataDir !== ':memory:' ? join(dataDir, 'keystore') : undefined;
    if (shared) return; // `init()` makes the first key, on the leader.
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
    if (this.active() === undefined) this.rotateLocal();
  }

  /** Shared mode, on the server that writes (the leader): makes the first key unless the cluster has one. */
  async init(): Promise<void> {
    if (!this.shared) return;
    this.refresh();
    if (this.active() !== undefined) return;
    await this.rotateShared(true);
  }

  /** Shared mode: reads the `root_keys` rows written since the last look (another server may have rotated). */
  private refresh(): void {
    if (!this.shared) return;
    const snap = this.shared.store.snapshot();
    const index = snap.tableIndex('root_keys');
    if (index === this.seenIndex) return;
    const rows = [...snap.tables.all('root_keys')];
    const present = new Set(rows.map((r) => r.KeyID));
    for (const id of [...this.keys.keys()]) if (!present.has(id)) this.keys.delete(id);
    for (const r of rows) {
      const have = this.keys.get(r.KeyID);
      const { WrappedKey, Wrapping, ...meta } = r;
      const key = have?.Key ?? this.unwrap(r.KeyID, WrappedKey, Wrapping);
      this.keys.set(r.KeyID, { ...meta, Key: key });
    }
    this.seenIndex = index;
  }

  private unwrap(keyID: string, wrapped: string, wrapping: RootKeyRow['Wrapping']): string {
    if (wrapping === 'none') return wrapped;
    const kek = this.shared?.kek;
    if (!kek)
      throw new DroverError(
        'Internal',
        `root key "${keyID}" is wrapped with a key-encryption key and this server has none: set server.keyring_kek_file`,
      );
    return unwrapWithKEK(kek, KEK_PURPOSE, keyID, wrapped).toString('utf8');
  }

  private wrap(k: StoredKey): RootKeyRow {
    const { Key, ...meta } = k;
    const kek = this.shared?.kek;
    return kek
      ? { ...meta, WrappedKey: wrapWithKEK(kek, KEK_PURPOSE, k.KeyID, Buffer.from(Key, 'utf8')), Wrapping: 'kek' }
      : { ...meta, WrappedKey: Key, Wrapping: 'none' };
  }

  /** Every key's metadata, oldest first. */
  list(): RootKeyMeta[] {
    this.refresh();
    return [...this.keys.values()].sort((a, b) => a.CreateTime - b.CreateTime).map(({ Key: _key, ...meta }) => meta);
  }

  active(): StoredKey | undefined {
    this.refresh();
    let found: StoredKey | undefined;
    for (const k of this.keys.values())
      if (k.State === 'active' && (!found || k.CreateTime > found.CreateTime)) found = k;
    return found;
  }

  /** A new active key; the others become inactive (they still decrypt). */
  async rotate(): Promise<RootKeyMeta> {
    return this.shared ? this.rotateShared(false) : this.rotateLocal();
  }

  private newKey(): StoredKey {
    return {
      KeyID: randomUUID(),
      Algorithm: 'aes256-gcm',
      CreateTime: this.now() * 1e6,
      CreateIndex: 0,
      ModifyIndex: 0,
      State: 'active',
      Key: randomBytes(32).toString('base64'),
    };
  }

  /** Shared mode: one write puts the new key and marks the others inactive; `ifNone`: only when none is active. */
  private async rotateShared(ifNone: boolean): Promise<RootKeyMeta> {
    const key = this.newKey();
    let made: RootKeyMeta | undefined;
    await this.shared!.store.write((txn) => {
      const rows = [...txn.tables.all('root_keys')];
      const active = rows.find((r) => r.State === 'active');
      if (ifNone && active) {
        const { WrappedKey: _w, Wrapping: _p, ...meta } = active;
        made = meta;
        return;
      }
      for (const r of rows) if (r.State === 'active') txn.put('root_keys', { ...r, State: 'inactive' });
      txn.put('root_keys', this.wrap(key));
      const { Key: _k, ...meta } = key;
      made = meta;
    });
    this.refresh();
    return made!;
  }

  private rotateLocal(): RootKeyMeta {
    const key = this.newKey();
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
  async remove(keyID: string, inUse: (keyID: string) => boolean): Promise<void> {
    this.refresh();
    const k = this.keys.get(keyID);
    if (!k) throw new DroverError('NotFound', `root key "${keyID}" not found`);
    if (k.State === 'active') throw new DroverError('Conflict', `root key "${keyID}" is the active key; rotate first`);
    if (inUse(keyID))
      throw new DroverError(
        'Conflict',
        `root key "${keyID}" still encrypts variables; rotate with full = true and wait, then remove it`,
      );
    if (this.shared) {
      await this.shared.store.write((txn) => {
        if (txn.tables.get('root_keys', keyID)?.State === 'inactive') txn.delete('root_keys', keyID);
      });
      this.refresh();
      return;
    }
    if (this.dir) rmSync(join(this.dir, `${keyID}.json`), { force: true });
    this.keys.delete(keyID);
  }

  seal(namespace: string, path: string, items: Record<string, string>): SealedItems {
    const k = this.active();
    if (!k) throw new DroverError('Unavailable', 'the keyring has no active key yet: the leader makes it at start');
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', Buffer.from(k.Key, 'base64'), nonce);
    c.setAAD(aad(namespace, path));
    const body = Buffer.concat([c.update(JSON.stringify(items), 'utf8'), c.final()]);
    return { KeyID: k.KeyID, Data: Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64') };
  }

  open(namespace: string, path: string, sealed: SealedItems): Record<string, string> {
    if (!this.keys.has(sealed.KeyID)) this.refresh();
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
