/**
 * `drover service list` and `drover service info [-tag T] [-health passing] [-verbose] NAME`: Nomad's `nomad service
 * list|info`, over the native catalog. Nomad's columns, plus the instance's health (Drover's checks).
 */
import type { ServiceRegistration } from '../../structs/index.js';
import { command, bool, str, UsageError, verboseOption } from '../command.js';
import { formatKV, shortId } from '../format.js';

const tagList = (tags: string[] | null | undefined) => `[${(tags ?? []).join(',')}]`;

export const serviceList = command('service list', {
  summary: 'List the services of the catalog',
  async run(ctx) {
    const client = ctx.client();
    const stubs = (await client.services.list({ signal: ctx.signal })).value ?? [];
    if (ctx.out.json) {
      ctx.out.printJSON(stubs);
      return 0;
    }
    const rows = stubs.flatMap((ns) =>
      ns.Services.map((s) => ({ ns: ns.Namespace, name: s.ServiceName, tags: s.Tags })),
    );
    if (rows.length === 0) {
      ctx.out.line('No service registrations found');
      return 0;
    }
    const manyNs = new Set(rows.map((r) => r.ns)).size > 1;
    const header = manyNs ? ['Service Name', 'Namespace', 'Tags'] : ['Service Name', 'Tags'];
    ctx.out.table([header, ...rows.map((r) => (manyNs ? [r.name, r.ns, tagList(r.tags)] : [r.name, tagList(r.tags)]))]);
    return 0;
  },
});

function verboseBlock(r: ServiceRegistration): string {
  return formatKV([
    ['ID', r.ID],
    ['Service Name', r.ServiceName],
    ['Namespace', r.Namespace],
    ['Job ID', r.JobID],
    ['Alloc ID', r.AllocID],
    ['Node ID', r.NodeID],
    ['Datacenter', r.Datacenter],
    ['Address', `${r.Address}:${r.Port}`],
    ['Tags', tagList(r.Tags)],
    ['Status', r.Status ?? 'passing'],
  ]);
}

export const serviceInfo = command('service info <name>', {
  summary: 'Show the registered instances of a service',
  options: [
    { flags: '--tag <tag>', description: 'only instances carrying this tag' },
    { flags: '--health <health>', description: 'passing: only passing instances (default: all)' },
    verboseOption('full IDs and every field of each instance'),
  ],
  async run(ctx, [name], opts) {
    const health = str(opts.health);
    if (health !== undefined && health !== 'passing' && health !== 'any')
      throw new UsageError(`Invalid -health "${health}": expected passing or any`);
    const verbose = bool(opts.verbose);
    const regs =
      (await ctx.client().services.get(name!, { tag: str(opts.tag), health, signal: ctx.signal })).value ?? [];
    if (ctx.out.json) {
      ctx.out.printJSON(regs);
      return 0;
    }
    if (regs.length === 0) {
      ctx.out.line(`No service registrations found for "${name}"`);
      return 1;
    }
    if (verbose) {
      ctx.out.line(regs.map(verboseBlock).join('\n\n'));
      return 0;
    }
    ctx.out.table([
      ['Job ID', 'Address', 'Tags', 'Node ID', 'Alloc ID', 'Status'],
      ...regs.map((r) => [
        r.JobID,
        `${r.Address}:${r.Port}`,
        tagList(r.Tags),
        shortId(r.NodeID),
        shortId(r.AllocID),
        r.Status ?? 'passing',
      ]),
    ]);
    return 0;
  },
});
