/**
 * Node identity: what a remote client may do through /v1/internal/client/*. A client generates its node
 * SecretID once (persisted 0600 in its data dir), registers with it, and presents it on every internal call.
 * The server keeps the secret with the node and checks, before any write:
 *
 *   register     the secret presented is the one in the Node body; an existing node ID registered with another
 *                secret cannot be taken over (a node stored before secrets were kept is claimed by its first
 *                registration with one)
 *   status       only the node's own status
 *   allocs read  only the node's own allocations
 *   allocs write only updates for allocations placed on the node
 *   services     upserts only for allocations placed on the node, carrying its NodeID; deletes only of its own
 *
 * An in-process client (the -dev agent) calls the server directly and is trusted; this guards the HTTP path.
 */
import { timingSafeEqual } from 'node:crypto';
import { DroverError, badRequest } from '../errors/index.js';
import type { AllocClientUpdate, Node, ServiceRegistration } from '../structs/index.js';
import type { StateView } from '../state/index.js';

export type NodeRequest =
  | { kind: 'register'; secret: string | undefined; node: Node }
  | { kind: 'status' | 'allocs-read'; secret: string | undefined; nodeID: string }
  | { kind: 'allocs-write'; secret: string | undefined; nodeID: string; updates: AllocClientUpdate[] }
  | { kind: 'services'; secret: string | undefined; nodeID: string; upsert: ServiceRegistration[]; delete: string[] }
  /** A Connect sidecar's certificate: only for a service whose sidecar runs in an allocation on the node. */
  | { kind: 'mesh'; secret: string | undefined; nodeID: string; namespace: string; service: string };

const denied = (message: string) => new DroverError('PermissionDenied', message);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Throws PermissionDenied (403) unless the request is the node's own, made with its secret. */
export function authorizeNodeRequest(view: StateView, req: NodeRequest): void {
  if (!req.secret)
    throw denied('node secret required: send the node SecretID in X-Drover-Node-Secret (or X-Nomad-Token)');
  if (req.kind === 'register') {
    const node = req.node;
    if (!node.ID || typeof node.ID !== 'string' || node.ID.length > 64)
      throw badRequest('Node.ID is required (up to 64 characters)');
    if (typeof node.SecretID !== 'string' || node.SecretID.length < 16)
      throw badRequest('Node.SecretID is required (at least 16 characters)');
    if (!sameSecret(node.SecretID, req.secret)) throw denied('the node secret presented does not match Node.SecretID');
    const prev = view.nodeByID(node.ID);
    if (prev?.SecretID && !sameSecret(prev.SecretID, node.SecretID))
      throw denied(`node "${node.ID}" is registered with another secret`);
    return;
  }
  const node = view.nodeByID(req.nodeID);
  // The same answer whether the node is unknown or the secret is wrong: no probing for node IDs.
  if (node?.SecretID == null || !sameSecret(node.SecretID, req.secret))
    throw denied(`node secret does not match node "${req.nodeID}"`);
  if (req.kind === 'allocs-write') {
    for (const u of req.updates) {
      if (u == null || typeof u !== 'object') throw badRequest('each of "Allocs" must be an object');
      if (view.allocByID(u.ID)?.NodeID !== req.nodeID)
        throw denied(`allocation "${u.ID}" is not placed on node "${req.nodeID}"`);
    }
  } else if (req.kind === 'mesh') {
    const kind = `connect-proxy:${req.service}`;
    const runs = view.tables
      .byIndex('allocs', 'node', req.nodeID)
      .some(
        (a) =>
          a.Namespace === req.namespace &&
          a.DesiredStatus === 'run' &&
          (a.Job?.TaskGroups ?? []).some((g) => g.Name === a.TaskGroup && g.Tasks.some((t) => t.Kind === kind)),
      );
    if (!runs) throw denied(`node "${req.nodeID}" runs no sidecar of service "${req.service}"`);
  } else if (req.kind === 'services') {
    for (const r of req.upsert) {
      if (r == null || typeof r !== 'object') throw badRequest('each of "Upsert" must be an object');
      if (r.NodeID !== req.nodeID)
        throw denied(`service registration "${r.ID}" names node "${r.NodeID}", not "${req.nodeID}"`);
      if (view.allocByID(r.AllocID)?.NodeID !== req.nodeID)
        throw denied(
          `service registration "${r.ID}" is for allocation "${r.AllocID}", which is not placed on node "${req.nodeID}"`,
        );
    }
    for (const id of req.delete) {
      if (typeof id !== 'string') throw badRequest('each of "Delete" must be a registration ID');
      const r = view.tables.get('service_registrations', id);
      if (r && r.NodeID !== req.nodeID) throw denied(`service registration "${id}" belongs to another node`);
    }
  }
}
