/**
 * `drover server members`: the servers of the cluster, as `nomad server members` prints them (the leader
 * marked), and `drover operator raft list-peers`: the servers as voters, with the etcd members behind them.
 */
import { command } from '../command.js';

export const serverMembers = command('server members', {
  legacy: [['server-members']],
  summary: 'List the servers of the cluster',
  async run(ctx) {
    const client = ctx.client();
    const [members, leader] = await Promise.all([
      client.agent.members({ signal: ctx.signal }),
      client.status.leader({ signal: ctx.signal }),
    ]);
    if (ctx.out.json) {
      ctx.out.printJSON(members.Members);
      return 0;
    }
    const rows = [['Name', 'Address', 'Port', 'Status', 'Leader', 'Build', 'Datacenter', 'Region']];
    for (const m of members.Members) {
      rows.push([
        m.Name,
        m.Addr,
        String(m.Port),
        m.Status,
        String(`${m.Addr}:${m.Port}` === leader),
        m.Tags['build'] ?? '',
        m.Tags['dc'] ?? '',
        m.Tags['region'] ?? '',
      ]);
    }
    ctx.out.table(rows);
    return 0;
  },
});

export const operatorRaftListPeers = command('operator raft list-peers', {
  summary: 'List the servers (and the etcd members that hold the state)',
  async run(ctx) {
    const cfg = await ctx.client().operator.raftConfiguration({ signal: ctx.signal });
    if (ctx.out.json) {
      ctx.out.printJSON(cfg);
      return 0;
    }
    const rows = [['Node', 'ID', 'Address', 'State', 'Voter', 'RaftProtocol']];
    for (const s of cfg.Servers)
      rows.push([s.Node, s.ID, s.Address, s.Leader ? 'leader' : 'follower', String(s.Voter), s.RaftProtocol]);
    ctx.out.table(rows);
    if (cfg.Etcd && cfg.Etcd.length > 0) {
      ctx.out.line('');
      const etcd = [['etcd member', 'ID', 'Client URLs', 'State']];
      for (const m of cfg.Etcd) etcd.push([m.Name, m.ID, m.ClientURLs.join(','), m.Leader ? 'leader' : 'follower']);
      ctx.out.table(etcd);
    }
    return 0;
  },
});

/** `drover server join ADDR`: checks the servers form one cluster (they join by sharing etcd endpoints). */
export const serverJoin = command('server join <address>', {
  summary: 'Check that servers are part of this cluster',
  async run(ctx, args) {
    const q = args.map((a) => `address=${encodeURIComponent(a)}`).join('&');
    const res = await ctx
      .client()
      .http.write<{ num_joined: number; error: string }>('PUT', `/v1/agent/join?${q}`, undefined, {
        signal: ctx.signal,
      });
    if (ctx.out.json) ctx.out.printJSON(res);
    else if (res.num_joined > 0) ctx.out.line(`Joined ${res.num_joined} servers successfully`);
    if (res.error) {
      ctx.out.error(`Error joining: ${res.error}`);
      return 1;
    }
    return 0;
  },
});
