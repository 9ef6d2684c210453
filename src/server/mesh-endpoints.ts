/**
 * The servers' side of the service mesh: intentions (Consul's `/v1/connect/intentions`, stored in state) and the
 * mesh CA, which signs each Connect service's leaf certificate for the clients running its sidecars.
 *
 *   sidecarMaterial(ns, svc) ─► CA in state? (created once, on first use) ─► cached leaf past half its life?
 *     ─► sign a new one ─► { leaf, roots, intentions, default action }
 *
 * Leaves rotate at half their lifetime: clients ask again every few seconds, and get the new leaf long before
 * the old one expires. A leaf is cached per service on this server only (a restart signs new ones; every leaf of
 * the same CA is equally valid).
 */
import { badRequest, DroverError, notFound } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { createMeshCA, issueLeaf } from '../mesh/index.js';
import type { StateStore } from '../state/index.js';
import { unwrapWithKEK, wrapWithKEK } from '../lib/kek.js';
import {
  generateUUID,
  meshSpiffeID,
  type Intention,
  type MeshCARow,
  type MeshSidecarMaterial,
} from '../structs/index.js';

export interface MeshOptions {
  /** What applies when no intention matches (Consul's default with ACLs off: allow). */
  defaultIntention?: 'allow' | 'deny';
  /** Lifetime of a leaf certificate (Consul's leaf_cert_ttl, 72 h). */
  leafTTLms?: number;
  /**
   * The servers' key-encryption key (server.keyring_kek_file, servers sharing etcd): the CA's private key is then
   * kept wrapped in the state, as the signing key and the keyring are, so etcd never holds it in plaintext.
   */
  kek?: Buffer;
}

export interface IntentionInput {
  SourceName?: unknown;
  DestinationName?: unknown;
  SourceNS?: unknown;
  DestinationNS?: unknown;
  Action?: unknown;
  Description?: unknown;
}

const CA_ID = 'root';
const KEK_PURPOSE = 'mesh CA private key';
const NAME = /^(\*|[A-Za-z0-9][A-Za-z0-9_.-]*)$/;

export class MeshEndpoints {
  private readonly leaves = new Map<string, Promise<{ m: MeshSidecarMaterial; issuedAt: number }>>();
  private caCreation: Promise<void> | undefined;
  readonly defaultIntention: 'allow' | 'deny';
  private readonly leafTTLms: number;
  private readonly kek: Buffer | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly now: () => number,
    private readonly log: Logger,
    opts: MeshOptions = {},
  ) {
    this.defaultIntention = opts.defaultIntention ?? 'allow';
    this.leafTTLms = opts.leafTTLms ?? 72 * 3_600_000;
    this.kek = opts.kek;
  }

  intentionList(): Intention[] {
    return [...this.store.snapshot().tables.all('intentions')].sort(
      (a, b) =>
        a.SourceName.localeCompare(b.SourceName) ||
        a.DestinationName.localeCompare(b.DestinationName) ||
        a.ID.localeCompare(b.ID),
    );
  }

  intentionGet(id: string): Intention {
    const i = this.store.snapshot().tables.get('intentions', id);
    if (!i) throw notFound(`intention "${id}"`);
    return i;
  }

  /**
   * Creates an intention, or (with `replace`) changes the action of the one for the same pair. A second
   * intention for a pair is a conflict, as in Consul.
   */
  async intentionUpsert(input: IntentionInput, opts: { replace?: boolean; id?: string } = {}): Promise<Intention> {
    const v = validateIntention(input);
    const pair = `${v.SourceNS}\u0000${v.SourceName}\u0000${v.DestinationNS}\u0000${v.DestinationName}`;
    const { result } = await this.store.write((txn) => {
      const existing = opts.id
        ? txn.tables.get('intentions', opts.id)
        : txn.tables.byIndex('intentions', 'pair', pair)[0];
      if (opts.id && !existing) throw notFound(`intention "${opts.id}"`);
      if (existing && !opts.replace && !opts.id)
        throw new DroverError(
          'Conflict',
          `an intention from "${v.SourceName}" to "${v.DestinationName}" already exists (ID ${existing.ID}): delete it or replace it`,
        );
      const row: Intention = {
        ...v,
        ID: existing?.ID ?? generateUUID(),
        CreateIndex: existing?.CreateIndex ?? txn.writeIndex,
        ModifyIndex: txn.writeIndex,
      };
      txn.put('intentions', row);
      return row;
    });
    return result;
  }

  async intentionDelete(id: string): Promise<void> {
    await this.store.write((txn) => {
      if (!txn.tables.get('intentions', id)) throw notFound(`intention "${id}"`);
      txn.delete('intentions', id);
    });
  }

  /** The intention for exactly this pair (Consul's `/v1/connect/intentions/exact`). */
  intentionExact(source: string, destination: string, ns = 'default'): Intention {
    const hit = this.store
      .snapshot()
      .tables.byIndex('intentions', 'pair', `${ns}\u0000${source}\u0000${ns}\u0000${destination}`)[0];
    if (!hit) throw notFound(`intention from "${source}" to "${destination}"`);
    return hit;
  }

  private async ensureCA(): Promise<{ certPEM: string; keyPEM: string }> {
    const row = this.store.snapshot().tables.get('mesh_ca', CA_ID);
    if (row) return { certPEM: row.RootCert, keyPEM: this.privateKey(row) };
    this.caCreation ??= (async () => {
      const made = await createMeshCA();
      const key = this.kek
        ? { PrivateKey: '', WrappedPrivateKey: wrapWithKEK(this.kek, KEK_PURPOSE, CA_ID, Buffer.from(made.keyPEM)) }
        : { PrivateKey: made.keyPEM };
      await this.store.write((txn) => {
        if (!txn.tables.get('mesh_ca', CA_ID))
          txn.put('mesh_ca', { ID: CA_ID, RootCert: made.certPEM, ...key, CreateTime: this.now() });
      });
      this.log.info('mesh CA created');
    })().finally(() => (this.caCreation = undefined));
    await this.caCreation;
    return this.ensureCA();
  }

  private privateKey(row: MeshCARow): string {
    if (!row.WrappedPrivateKey) return row.PrivateKey;
    if (!this.kek)
      throw new DroverError(
        'Internal',
        'the mesh CA key is wrapped with a key-encryption key and this server has none: set server.keyring_kek_file',
      );
    return unwrapWithKEK(this.kek, KEK_PURPOSE, CA_ID, row.WrappedPrivateKey).toString('utf8');
  }

  /** The roots sidecars trust (PEM). */
  async roots(): Promise<string> {
    return (await this.ensureCA()).certPEM;
  }

  /** What a client needs to run the sidecar of `service`: a leaf valid for at least half its lifetime. */
  async sidecarMaterial(namespace: string, service: string): Promise<MeshSidecarMaterial> {
    if (!NAME.test(service) || service === '*') throw badRequest(`"${service}" is not a service name`);
    const key = `${namespace}\u0000${service}`;
    let cached = this.leaves.get(key);
    const fresh = async (p: typeof cached) => {
      if (!p) return false;
      try {
        const c = await p;
        return this.now() < c.issuedAt + this.leafTTLms / 2;
      } catch {
        return false;
      }
    };
    if (!(await fresh(cached))) {
      cached = this.issue(namespace, service);
      this.leaves.set(key, cached);
    }
    const { m } = await cached!;
    return {
      ...m,
      Intentions: this.intentionList(),
      DefaultAction: this.defaultIntention,
    };
  }

  private async issue(namespace: string, service: string): Promise<{ m: MeshSidecarMaterial; issuedAt: number }> {
    const ca = await this.ensureCA();
    const now = this.now();
    const validBefore = now + this.leafTTLms;
    const spiffe = meshSpiffeID(namespace, service);
    const leaf = await issueLeaf(ca, service, spiffe, validBefore, now);
    this.log.info('mesh leaf certificate issued', { service, namespace, valid_before: new Date(validBefore) });
    return {
      issuedAt: now,
      m: {
        Service: service,
        Namespace: namespace,
        SpiffeID: spiffe,
        CertPEM: leaf.certPEM,
        KeyPEM: leaf.keyPEM,
        RootsPEM: ca.certPEM,
        ValidBefore: validBefore,
        Intentions: [],
        DefaultAction: this.defaultIntention,
      },
    };
  }
}

/** Every problem of an intention body, named by field. */
function validateIntention(b: IntentionInput): Omit<Intention, 'ID' | 'CreateIndex' | 'ModifyIndex'> {
  const problems: string[] = [];
  const name = (field: string, v: unknown) => {
    if (typeof v !== 'string' || !NAME.test(v)) {
      problems.push(`${field}: a service name or "*" is required`);
      return '';
    }
    return v;
  };
  const ns = (field: string, v: unknown) => {
    if (v === undefined || v === null || v === '') return 'default';
    if (typeof v !== 'string' || !NAME.test(v)) problems.push(`${field}: must be a namespace name`);
    return String(v);
  };
  const out = {
    SourceName: name('SourceName', b.SourceName),
    DestinationName: name('DestinationName', b.DestinationName),
    SourceNS: ns('SourceNS', b.SourceNS),
    DestinationNS: ns('DestinationNS', b.DestinationNS),
    Action: b.Action as 'allow' | 'deny',
    Description: typeof b.Description === 'string' ? b.Description : '',
  };
  if (b.Action !== 'allow' && b.Action !== 'deny') problems.push('Action: must be "allow" or "deny"');
  if (problems.length > 0)
    throw badRequest(
      `invalid intention: ${problems.join('; ')}`,
      problems.map((p) => ({ path: p.split(':')[0], message: p.slice(p.indexOf(':') + 2) })),
    );
  return out;
}
