/** `drover deployment status [-monitor] [-verbose] ID`: a deployment's progress per task group. */
import { command, bool, VERBOSE_OPTION } from '../command.js';
import { querying, resolveDeployment } from './common.js';
import { monitorDeployment } from './deployment-monitor.js';
import { deploymentView } from './deployment-view.js';

export const deploymentStatus = command('deployment status <id>', {
  summary: 'Show the progress of a deployment',
  options: [VERBOSE_OPTION, { flags: '--monitor', description: 'follow the deployment until it ends' }],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const verbose = bool(opts.verbose);
    const stub = await resolveDeployment(ctx, client, id!, verbose);
    if (bool(opts.monitor) && !ctx.out.json)
      return monitorDeployment(client, ctx.out, stub.ID, { verbose, signal: ctx.signal });
    const d = (await querying('deployment', client.deployments.get(stub.ID, { signal: ctx.signal }))).value;
    ctx.out.result(d, () => deploymentView(d, verbose));
    return 0;
  },
});
