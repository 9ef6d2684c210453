/**
 * Agent and status endpoints: `/v1/agent/self`, `/v1/agent/health`, `/v1/status/leader`, `/v1/status/peers`,
 * `/v1/agent/members`, `/v1/agent/servers`, `/v1/operator/raft/configuration`. Peers are the servers' API
 * addresses (`host:port`): Drover's agents talk to each other over that one HTTP port, so it is their RPC address.
 */
import { requestSecret } from '../acl-rules.js';
import { badRequest, notFound } from '../../errors/index.js';
import type { Router } from '../router.js';
import { JsonReply } from '../reply.js';
import type { HttpApiOptions, ServerMember } from '../types.js';

export function agentRoutes(r: Router, opts: HttpApiOptions): void {
  r.get('/v1/agent/self', () => opts.agent.self());
  // As Nomad: 500 when a part is unhealthy. The server is unhealthy while its state writes fail (disk full):
  // reads still work, but nothing new is accepted until a write succeeds again.
  r.get('/v1/agent/health', () => {
    const w = opts.server?.writeHealth?.() ?? { ok: true as const };
    const server = w.ok
      ? { ok: true, message: 'ok' }
      : { ok: false, message: `state writes failing since ${new Date(w.since).toISOString()}: ${w.error}` };
    const body = {
      ...(opts.server ? { server } : {}),
      ...(opts.client ? { client: { ok: true, message: 'ok' } } : {}),
    };
    return new JsonReply(body, undefined, opts.server && !w.ok ? 500 : 200);
  });
  r.get('/v1/status/leader', () => (opts.server ? opts.server.leaderAddress() : ''));
  r.get('/v1/status/peers', async () =>
    opts.cluster
      ? (await opts.cluster.members()).map((m) => `${m.Addr}:${m.Port}`)
      : opts.server
        ? [opts.server.leaderAddress()]
        : [],
  );
  const self = () => opts.agent.self() as { config?: Record<string, unknown>; member?: ServerMember };
  const members = async (): Promise<ServerMember[]> => {
    if (opts.cluster) return opts.cluster.members();
    const m = self().member;
    return opts.server && m ? [m] : [];
  };
  r.get('/v1/agent/members', async () => {
    const c = self().config ?? {};
    return {
      ServerName: String(c['NodeName'] ?? ''),
      ServerRegion: String(c['Region'] ?? 'global'),
      ServerDC: String(c['Datacenter'] ?? 'dc1'),
      Members: await members(),
    };
  });
  r.write('/v1/agent/join', async (c) => {
    const addresses = c.query.getAll('address').filter(Boolean);
    if (addresses.length === 0) throw badRequest('missing address: PUT /v1/agent/join?address=host:port');
    // Servers of other regions federate; servers of this region must be of this very cluster.
    const fed = opts.regions
      ? await opts.regions.join(addresses, c.signal, requestSecret(c))
      : { joined: 0, sameRegion: addresses, errors: [] };
    const here = String(self().config?.['Region'] ?? 'global');
    const own = self().member;
    const ownAddr = own ? `${own.Addr}:${own.Port}` : '';
    let joined = fed.joined;
    const errors = [...fed.errors];
    if (opts.cluster && fed.sameRegion.length > 0) {
      const r = await opts.cluster.join(fed.sameRegion);
      joined += r.num_joined;
      if (r.error) errors.push(r.error);
    } else
      for (const a of fed.sameRegion) {
        if (a.replace(/^https?:\/\//, '') === ownAddr) joined++;
        else
          errors.push(
            `${a} is a server of region "${here}", this region's name, but not one of its servers (a SQLite server has its own state; servers of one region share server.etcd.endpoints): region names must be unique`,
          );
      }
    return { num_joined: joined, error: errors.join('; ') };
  });
  r.write('/v1/agent/force-leave', async (c) => {
    const node = c.query.get('node');
    if (!node) throw badRequest('missing node: PUT /v1/agent/force-leave?node=NAME');
    if (!opts.cluster) throw notFound(`server member "${node}"`);
    await opts.cluster.forceLeave(node);
    return {};
  });
  // On a client-only agent, as Nomad's: the servers its client talks to, the current one first.
  r.get('/v1/agent/servers', async () =>
    !opts.server && opts.clientServers ? opts.clientServers() : (await members()).map((m) => `${m.Addr}:${m.Port}`),
  );
  r.get('/v1/operator/raft/configuration', async () => {
    if (opts.cluster) return opts.cluster.raftConfiguration();
    const leader = opts.server?.leaderAddress() ?? '';
    const m = self().member;
    return {
      Index: 0,
      Servers:
        opts.server && m
          ? [{ ID: leader, Node: m.Name, Address: leader, Leader: true, Voter: true, RaftProtocol: '3' }]
          : [],
    };
  });
  r.get(
    '/v1/regions',
    () =>
      opts.regions?.regions() ?? [
        String((opts.agent.self()['config'] as Record<string, unknown> | undefined)?.['Region'] ?? 'global'),
      ],
  );
}
