/** `drover deployment status [-monitor] [-verbose] ID`: a deployment's progress per task group. */
import { bool, type CommandSpec } from '../command.js';
import { shortId } from '../format.js';
import { resolvePrefix } from '../resolve.js';
import { querying } from './common.js';
import { monitorDeployment } from './deployment-monitor.js';
import { deploymentView } from './deployment-view.js';

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
      (ds) => [
        ['ID', 'Job ID', 'Job Version', 'Status', 'Description'],
        ...ds.map((d) => [shortId(d.ID, verbose), d.JobID, String(d.JobVersion), d.Status, d.StatusDescription]),
      ],
    );
    if (bool(opts.monitor) && !ctx.out.json)
      return monitorDeployment(client, ctx.out, stub.ID, { verbose, signal: ctx.signal });
    const d = (await querying('deployment', client.deployments.get(stub.ID, { signal: ctx.signal }))).value;
    if (ctx.out.json) ctx.out.printJSON(d);
    else ctx.out.line(deploymentView(d, verbose));
    return 0;
  },
};
