/** Nomad's root keyring: `/v1/operator/keyring/*` (the keys that seal variables at rest). */
import type { HttpTransport, WriteOptions } from './http.js';

export interface RootKeyMeta {
  KeyID: string;
  Algorithm: string;
  CreateTime: number;
  CreateIndex: number;
  ModifyIndex: number;
  State: string;
}

export class KeyringAPI {
  constructor(private readonly http: HttpTransport) {}

  async list(opts: { signal?: AbortSignal } = {}): Promise<RootKeyMeta[]> {
    return (await this.http.query<RootKeyMeta[]>('/v1/operator/keyring/keys', opts)).value ?? [];
  }

  /** A new active key; `full`: every variable is re-encrypted with it in the background. */
  async rotate(full: boolean, opts: WriteOptions = {}): Promise<RootKeyMeta> {
    return (
      await this.http.write<{ Key: RootKeyMeta }>(
        'PUT',
        `/v1/operator/keyring/rotate${full ? '?full=true' : ''}`,
        undefined,
        opts,
      )
    ).Key;
  }

  async remove(keyID: string, opts: WriteOptions = {}): Promise<void> {
    await this.http.write('DELETE', `/v1/operator/keyring/key/${encodeURIComponent(keyID)}`, undefined, opts);
  }
}
