/**
 * `drover job dispatch [-meta k=v]... [-id-prefix-template T] [-idempotency-token T] [-detach] JOB [INPUT]`:
 * runs a parameterized job with a payload (INPUT file, or `-` for stdin) and meta, as `nomad job dispatch`.
 */
import { readFile } from 'node:fs/promises';
import { command, bool, str, strs, UsageError, VERBOSE_OPTION, DETACH_OPTION } from '../command.js';
import { monitorEval } from '../monitor.js';
import { resolveJob } from './common.js';

/** `-meta key=value` flags to a map; a flag without `=` is a usage error. */
export function parseMetaFlags(flags: string[]): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const f of flags) {
    const i = f.indexOf('=');
    if (i <= 0) throw new UsageError(`Error: invalid -meta "${f}": expected key=value`);
    meta[f.slice(0, i)] = f.slice(i + 1);
  }
  return meta;
}

async function readStdin(signal: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    if (signal.aborted) break;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export const jobDispatch = command('job dispatch <id> [input]', {
  summary: 'Dispatch an instance of a parameterized job',
  options: [
    { flags: '--meta <key=value>', description: 'dispatch meta (repeatable)', repeatable: true },
    {
      flags: '--idempotency-token <token>',
      description: 'a second dispatch with the same token returns the first one',
    },
    DETACH_OPTION,
    VERBOSE_OPTION,
  ],
  async run(ctx, [id, input], opts) {
    const meta = parseMetaFlags(strs(opts.meta));
    const payload =
      input === undefined
        ? null
        : input === '-'
          ? await readStdin(ctx.signal)
          : await readFile(input).catch((e: unknown) => {
              throw new UsageError(`Error reading input data: ${(e as Error).message}`);
            });
    const client = ctx.client();
    const stub = await resolveJob(ctx, client, id!);
    const res = await client.jobs.dispatch(stub.ID, payload, meta, {
      idempotencyToken: str(opts.idempotencyToken),
      namespace: stub.Namespace || undefined,
      signal: ctx.signal,
    });
    if (ctx.out.json) {
      ctx.out.printJSON(res);
      return 0;
    }
    ctx.out.line(`Dispatched Job ID = ${res.DispatchedJobID}`);
    if (res.EvalID) ctx.out.line(`Evaluation ID     = ${bool(opts.verbose) ? res.EvalID : res.EvalID.slice(0, 8)}`);
    if (bool(opts.detach) || !res.EvalID) return 0;
    ctx.out.line('');
    return monitorEval(client, ctx.out, res.EvalID, { verbose: bool(opts.verbose), signal: ctx.signal });
  },
});
