/** `drover deployment status [-monitor] [-verbose] ID`: a deployment's progress per task group. */
import type { Deployment } from '../../structs/index.js';
import { bool, type CommandSpec } from '../command.js';
import { formatKV, formatRFC3339, formatTable, shortId } from '../format.js';
import { resolvePrefix } from '../resolve.js';
import { querying } from './common.js';
import { monitorDeployment } from './deployment-monitor.js';

export function deploymentView(d: Deployment, verbose: boolean): string {
  const kv = formatKV([
    ['ID', shortId(d.ID, verbose)],
    ['Job ID', d.JobID],
    ['Job Version', String(d.JobVersion)],
    ['Status', d.Status],
    ['Description', d.StatusDescription],
  ]);
  const groups = Object.keys(d.TaskGroups ?? {}).sort();
  const canaries = groups.some((g) => d.TaskGroups[g]!.DesiredCanaries > 0);
  const autoRevert = groups.some((g) => d.TaskGroups[g]!.AutoRevert);
  const head = ['Task Group', ...(autoRevert ? ['Auto Revert'] : []), ...(canaries ? ['Promoted'] : []), 'Desired', ...(canaries ? ['Canaries'] : []), 'Placed', 'Healthy', 'Unhealthy', 'Progress Deadline'];
  const rows = groups.map((g) => {
    const s = d.TaskGroups[g]!;
    return [
      g,
      ...(autoRevert ? [String(s.AutoRevert)] : []),
      ...(canaries ? [String(s.Promoted)] : []),
      String(s.DesiredTotal),
      ...(canaries ? [String(s.DesiredCanaries)] : []),
      String(s.PlacedAllocs),
      String(s.HealthyAllocs),
      String(s.UnhealthyAllocs),
      formatRFC3339(s.RequireProgressBy),
    ];
  });
  return groups.length > 0 ? `${kv}\n\nDeployed\n${formatTable([head, ...rows])}` : kv;
}

export const deploymentStatus: CommandSpec = {
  path: ['deployment', 'status'],
  summary: 'Show the progress of a deployment',
  args: ['<id>'],
  options: [
    { flags: '--verbose', description: 'full IDs' },
    { flags: '--monitor', description: 'follow the deployment until it ends' },
  ],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const verbose = bool(opts.verbose);
    const stub = await resolvePrefix(
      ctx.out,
      'deployment',
      id!,
      async (prefix) => (await client.deployments.list({ prefix, signal: ctx.signal })).value ?? [],
      (ds) => [['ID', 'Job ID', 'Job Version', 'Status', 'Description'], ...ds.map((d) => [shortId(d.ID, verbose), d.JobID, String(d.JobVersion), d.Status, d.StatusDescription])],
    );
    if (bool(opts.monitor) && !ctx.out.json) return monitorDeployment(client, ctx.out, stub.ID, { verbose, signal: ctx.signal });
    const d = (await querying('deployment', client.deployments.get(stub.ID, { signal: ctx.signal }))).value;
    if (ctx.out.json) ctx.out.printJSON(d);
    else ctx.out.line(deploymentView(d, verbose));
    return 0;
  },
};
