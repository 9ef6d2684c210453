import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../logging/index.js';
import { Router } from '../router.js';
import type { HttpApiOptions, ServerMember } from '../types.js';
import type { ServerAPI } from '../../server/types.js';
import { agentRoutes } from './agent.js';

const member: ServerMember = {
  Name: 'one.global',
  Addr: '127.0.0.1',
  Port: 4646,
  Status: 'alive',
  Tags: { role: 'nomad', region: 'global', dc: 'dc1', build: '0.1.0' },
};

function call(opts: HttpApiOptions, path: string): Promise<unknown> {
  const r = new Router();
  agentRoutes(r, opts);
  const m = r.match('GET', path);
  if (typeof m !== 'object') throw new Error(`no route for ${path}`);
  return Promise.resolve(m.handler({ params: m.params } as never));
}

describe('membership endpoints', () => {
  const single: HttpApiOptions = {
    agent: { self: () => ({ config: { NodeName: 'one', Region: 'global', Datacenter: 'dc1' }, member }) },
    server: { leaderAddress: () => '127.0.0.1:4646' } as unknown as ServerAPI,
    logger: nullLogger,
  };

  it('lists a lone server as the only member, peer and leading raft server', async () => {
    expect(await call(single, '/v1/agent/members')).toEqual({
      ServerName: 'one',
      ServerRegion: 'global',
      ServerDC: 'dc1',
      Members: [member],
    });
    expect(await call(single, '/v1/status/peers')).toEqual(['127.0.0.1:4646']);
    expect(await call(single, '/v1/agent/servers')).toEqual(['127.0.0.1:4646']);
    expect(await call(single, '/v1/operator/raft/configuration')).toEqual({
      Index: 0,
      Servers: [
        {
          ID: '127.0.0.1:4646',
          Node: 'one.global',
          Address: '127.0.0.1:4646',
          Leader: true,
          Voter: true,
          RaftProtocol: '3',
        },
      ],
    });
  });

  it('asks the cluster for members and peers when the state is shared through etcd', async () => {
    const other = { ...member, Name: 'two.global', Port: 4747 };
    const opts: HttpApiOptions = {
      ...single,
      cluster: {
        members: async () => [member, other],
        raftConfiguration: async () => ({ Servers: [] }),
        join: async () => ({ num_joined: 0, error: '' }),
        forceLeave: async () => {},
      },
    };
    expect(await call(opts, '/v1/status/peers')).toEqual(['127.0.0.1:4646', '127.0.0.1:4747']);
    expect(((await call(opts, '/v1/agent/members')) as { Members: unknown[] }).Members).toEqual([member, other]);
  });

  it('lists no members on a client-only agent', async () => {
    expect(await call({ ...single, server: undefined }, '/v1/agent/servers')).toEqual([]);
  });
});
