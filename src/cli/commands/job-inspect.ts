/** `drover job inspect [-version N] ID`: the job as JSON, in the `{"Job": ...}` envelope register accepts. */
import { command, int, UsageError } from '../command.js';
import { querying, resolveJob } from './common.js';

export const jobInspect = command('job inspect <id>', {
  summary: 'Print the JSON of a registered job',
  options: [{ flags: '--version <version>', description: 'a past version of the job', int: true }],
  async run(ctx, [id], opts) {
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const q = { namespace: stub.Namespace || undefined, signal: ctx.signal };
    const version = int(opts.version);
    if (version === undefined) {
      ctx.out.printJSON({ Job: (await querying('job', client.jobs.get(stub.ID, q))).value });
      return 0;
    }
    const versions = (await querying('job versions', client.jobs.versions(stub.ID, q))).value.Versions;
    const job = versions.find((j) => j.Version === version);
    if (!job) throw new UsageError(`Error: job "${stub.ID}" has no version ${version}`);
    ctx.out.printJSON({ Job: job });
    return 0;
  },
});
