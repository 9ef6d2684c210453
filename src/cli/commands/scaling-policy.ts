/** `drover scaling policy list|info`: the groups' scaling policies, as nomad's commands show them. */
import type { DroverClient } from '../../api/index.js';
import type { ScalingPolicyListStub } from '../../structs/index.js';
import { bool, str, UsageError, VERBOSE_OPTION, type CommandSpec } from '../command.js';
import { formatKV } from '../format.js';

/** `Namespace:default,Job:web,Group:api`, the order nomad prints a target in. */
export function formatTarget(target: Record<string, string> | null | undefined): string {
  const t = target ?? {};
  const order = ['Namespace', 'Job', 'Group', 'Task'];
  const keys = [
    ...order.filter((k) => k in t),
    ...Object.keys(t)
      .filter((k) => !order.includes(k))
      .sort(),
  ];
  return keys.map((k) => `${k}:${t[k]}`).join(',');
}

export const scalingPolicyList: CommandSpec = {
  path: ['scaling', 'policy', 'list'],
  summary: 'List scaling policies',
  options: [
    { flags: '--job <job>', description: 'only the policies of this job' },
    { flags: '--type <type>', description: 'only policies of this type (a prefix: "horizontal", "vertical")' },
    VERBOSE_OPTION,
  ],
  async run(ctx, _args, opts) {
    const list =
      (await ctx.client().scaling.listPolicies({ job: str(opts.job), type: str(opts.type), signal: ctx.signal }))
        .value ?? [];
    if (ctx.out.json) {
      ctx.out.printJSON(list);
      return 0;
    }
    if (list.length === 0) {
      ctx.out.line('No policies found');
      return 0;
    }
    const verbose = bool(opts.verbose);
    ctx.out.table([
      ['ID', 'Enabled', 'Type', 'Target'],
      ...list.map((p) => [verbose ? p.ID : p.ID.slice(0, 8), String(p.Enabled), p.Type, formatTarget(p.Target)]),
    ]);
    return 0;
  },
};

async function resolvePolicy(client: DroverClient, id: string, signal: AbortSignal): Promise<ScalingPolicyListStub> {
  const list = (await client.scaling.listPolicies({ prefix: id, signal })).value ?? [];
  const exact = list.find((p) => p.ID === id);
  if (exact) return exact;
  if (list.length === 0) throw new UsageError(`No scaling policy(s) with prefix or ID "${id}" found`);
  if (list.length > 1)
    throw new UsageError(
      `Prefix "${id}" matched multiple scaling policies:\n${list.map((p) => `  ${p.ID}  ${formatTarget(p.Target)}`).join('\n')}`,
    );
  return list[0]!;
}

export const scalingPolicyInfo: CommandSpec = {
  path: ['scaling', 'policy', 'info'],
  summary: 'Show a scaling policy (an ID or a unique prefix of one)',
  args: ['<id>'],
  async run(ctx, [id]) {
    const client = ctx.client();
    const stub = await resolvePolicy(client, id!, ctx.signal);
    const p = (await client.scaling.getPolicy(stub.ID, { signal: ctx.signal })).value;
    ctx.out.result(p, () =>
      [
        formatKV([
          ['ID', p.ID ?? ''],
          ['Enabled', String(p.Enabled ?? true)],
          ['Type', p.Type ?? ''],
          ['Target', formatTarget(p.Target)],
          ['Min', p.Min == null ? '<none>' : String(p.Min)],
          ['Max', p.Max == null ? '<none>' : String(p.Max)],
        ]),
        '',
        'Policy:',
        JSON.stringify(p.Policy ?? {}, null, 2),
      ].join('\n'),
    );
    return 0;
  },
};

export const SCALING_COMMANDS = [scalingPolicyList, scalingPolicyInfo];
