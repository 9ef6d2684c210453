/**
 * The service mesh's data (Consul Connect's shapes): intentions, the mesh CA kept in state, and the leaf
 * certificate a sidecar proves its service's identity with.
 */

/** Consul's intention: may `SourceName` call `DestinationName`? */
export interface Intention {
  ID: string;
  SourceNS: string;
  SourceName: string;
  DestinationNS: string;
  DestinationName: string;
  Action: 'allow' | 'deny';
  Description: string;
  CreateIndex: number;
  ModifyIndex: number;
}

/** The mesh CA (one per cluster; the private key stays in the servers' state). */
export interface MeshCARow {
  ID: string;
  /** PEM certificate of the root. */
  RootCert: string;
  /** PKCS#8 PEM private key of the root; empty when it is kept wrapped (below). */
  PrivateKey: string;
  /** The private key wrapped by the servers' key-encryption key (servers sharing etcd), base64. */
  WrappedPrivateKey?: string;
  CreateTime: number;
}

/** What a client needs to run one service's sidecar: its leaf, the roots, the intentions and their default. */
export interface MeshSidecarMaterial {
  Service: string;
  Namespace: string;
  /** The identity in the leaf's URI SAN: spiffe://drover/ns/<namespace>/svc/<service>. */
  SpiffeID: string;
  CertPEM: string;
  KeyPEM: string;
  RootsPEM: string;
  /** Unix ms: the leaf is not valid after this. */
  ValidBefore: number;
  Intentions: Intention[];
  DefaultAction: 'allow' | 'deny';
}

/** The SPIFFE ID of a service (the identity the leaf carries and the inbound sidecar checks). */
export function meshSpiffeID(namespace: string, service: string): string {
  return `spiffe://drover/ns/${namespace}/svc/${service}`;
}

/** Parses a SPIFFE ID made by meshSpiffeID; undefined for anything else. */
export function parseMeshSpiffeID(uri: string): { namespace: string; service: string } | undefined {
  const m = /^spiffe:\/\/drover\/ns\/([^/]+)\/svc\/([^/]+)$/.exec(uri);
  return m ? { namespace: m[1]!, service: m[2]! } : undefined;
}

/** Nomad's name for the sidecar task it injects for a service. */
export function connectProxyTaskName(service: string): string {
  return `connect-proxy-${service}`;
}

/** Nomad's Task.Kind of that task. */
export function connectProxyKind(service: string): string {
  return `connect-proxy:${service}`;
}

/** The service a sidecar task fronts, from its Kind; undefined for other tasks. */
export function connectProxyService(kind: string | undefined | null): string | undefined {
  return kind?.startsWith('connect-proxy:') ? kind.slice('connect-proxy:'.length) : undefined;
}

/** Consul's name for the catalog entry of a service's sidecar (its mesh address). */
export function sidecarServiceName(service: string): string {
  return `${service}-sidecar-proxy`;
}

/**
 * Decides one call: the most specific intention matching (source, destination) wins (exact names before `*`),
 * else the default. Consul's precedence, reduced to names within one namespace pair.
 */
export function intentionAllows(
  intentions: readonly Intention[],
  defaultAction: 'allow' | 'deny',
  src: { namespace: string; service: string },
  dst: { namespace: string; service: string },
): boolean {
  let best: { score: number; allow: boolean } | undefined;
  for (const i of intentions) {
    const nsOk =
      (i.SourceNS === src.namespace || i.SourceNS === '*' || i.SourceNS === '') &&
      (i.DestinationNS === dst.namespace || i.DestinationNS === '*' || i.DestinationNS === '');
    if (!nsOk) continue;
    const srcExact = i.SourceName === src.service;
    const dstExact = i.DestinationName === dst.service;
    if (!(srcExact || i.SourceName === '*') || !(dstExact || i.DestinationName === '*')) continue;
    const score = (dstExact ? 2 : 0) + (srcExact ? 1 : 0);
    if (!best || score > best.score) best = { score, allow: i.Action === 'allow' };
  }
  return best ? best.allow : defaultAction === 'allow';
}

/** One upstream of a Connect sidecar (Nomad's ConsulUpstream, the fields Drover acts on). */
export interface ConnectUpstream {
  DestinationName: string;
  DestinationNamespace?: string;
  LocalBindAddress?: string;
  LocalBindPort: number;
}

/** The upstreams of a service's `connect { sidecar_service { proxy { upstreams {} } } }` (Connect is loose). */
export function connectUpstreams(connect: Record<string, unknown> | null | undefined): ConnectUpstream[] {
  const ss = connect?.SidecarService as { Proxy?: { Upstreams?: ConnectUpstream[] | null } | null } | undefined;
  return ss?.Proxy?.Upstreams ?? [];
}
