/**
 * The jobspec-specific half of the decoder: handlers that schema.ts names in `custom`, for the
 * blocks whose meaning is more than a field mapping (constraint sugar, ports, legacy networks,
 * scaling labels, identities, vault inheritance, job-level tasks lifted into groups).
 */
import type { Block } from './hcl/index.js';
import { problemAt, type CustomHandler, type DecodeCtx, type Obj } from './decode-body.js';
import { decodeFreeform, decodeLoose, decodeStringMapBody } from './decode-freeform.js';

const SUGAR_OPERATORS = [
  'distinct_hosts',
  'distinct_property',
  'regexp',
  'version',
  'semver',
  'set_contains',
  'set_contains_all',
  'set_contains_any',
];

const constraint: CustomHandler = (out) => {
  for (const op of SUGAR_OPERATORS) {
    const v = out[`_${op}`];
    if (v === undefined) continue;
    delete out[`_${op}`];
    out.Operand = op;
    if (op === 'distinct_property') out.LTarget = v;
    else out.RTarget = v;
    // distinct_property's optional limit comes from `value`.
  }
  out.Operand ??= '=';
  out.LTarget ??= '';
  out.RTarget ??= '';
};

const affinity: CustomHandler = (out) => {
  out.Operand ??= '=';
};

const network: CustomHandler = (out) => {
  const reserved: Obj[] = [];
  const dynamic: Obj[] = [];
  for (const p of (out._ports as Obj[] | undefined) ?? []) {
    if (p.Value !== undefined && p.Value !== 0) reserved.push(p);
    else dynamic.push(p);
  }
  for (const v of (out._reserved_ports as number[] | undefined) ?? []) reserved.push({ Label: '', Value: v });
  for (const l of (out._dynamic_ports as string[] | undefined) ?? []) dynamic.push({ Label: l });
  for (const p of dynamic) p.Value ??= 0;
  delete out._ports;
  delete out._reserved_ports;
  delete out._dynamic_ports;
  if (reserved.length) out.ReservedPorts = reserved;
  if (dynamic.length) out.DynamicPorts = dynamic;
};

const resources: CustomHandler = (out, block, ctx, path) => {
  for (const [f, n] of [
    ['CPU', 'cpu'],
    ['Cores', 'cores'],
    ['MemoryMB', 'memory'],
    ['MemoryMaxMB', 'memory_max'],
    ['DiskMB', 'disk'],
  ] as const) {
    rejectNegative(out, f, n, block, ctx, path);
  }
  if (out._Networks) {
    out.Networks = [out._Networks];
    delete out._Networks;
  }
};

const vault: CustomHandler = (out) => {
  out.Env ??= true;
  out.DisableFile ??= false;
  out.ChangeMode ??= 'restart';
};

const template: CustomHandler = (out) => {
  out.ChangeMode ??= 'restart';
  out.Splay ??= 5e9;
  out.Perms ??= '0644';
  out.ErrMissingKey ??= false;
};

const periodic: CustomHandler = (out) => {
  if (out.Spec !== undefined || out.Specs !== undefined) out.SpecType = 'cron';
};

const header: CustomHandler = (out, block, ctx, path) => {
  const m: Record<string, string[]> = {};
  for (const item of block.body.items) {
    if (item.kind === 'block') {
      problemAt(
        ctx,
        item.typeRange,
        `Unsupported block type: blocks of type "${item.type}" are not expected here`,
        path,
      );
      continue;
    }
    const { value, diagnostics } = ctx.evaluate(item.expr, block);
    if (diagnostics.length) continue;
    if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) {
      problemAt(
        ctx,
        item.expr.range,
        `Incorrect attribute value type for "${item.name}": a header's values must be a list of strings`,
        path,
      );
      continue;
    }
    m[item.name] = value as string[];
  }
  for (const k of Object.keys(out)) delete out[k];
  Object.assign(out, m);
};

const stringMap: CustomHandler = (out, block, ctx, path) => {
  Object.assign(out, decodeStringMapBody(block.body, block, ctx, path));
};

const freeform: CustomHandler = (out, block, ctx, path) => {
  Object.assign(out, decodeFreeform(block.body, block, ctx, path));
};

const loose: CustomHandler = (out, block, ctx, path) => {
  Object.assign(out, decodeLoose(block.body, block, ctx, path));
};

const groupScaling: CustomHandler = (out, block, ctx, path) => {
  out.Type ??= 'horizontal';
  if (out.Type !== 'horizontal') {
    problemAt(
      ctx,
      block.typeRange,
      `task group scaling policy had invalid type: "${out.Type}" (expected "horizontal")`,
      path,
    );
  }
};

const taskScaling: CustomHandler = (out, block, ctx, path) => {
  delete out._label;
  if (block.labels.length !== 1 || (block.labels[0] !== 'cpu' && block.labels[0] !== 'mem')) {
    problemAt(
      ctx,
      block.labelRanges[0] ?? block.typeRange,
      'Invalid scaling policy name: scaling policy name must be "cpu" or "mem"',
      path,
    );
    return;
  }
  const want = `vertical_${block.labels[0]}`;
  out.Type ??= want;
  if (out.Type !== want) {
    problemAt(
      ctx,
      block.typeRange,
      `Invalid scaling policy type: a "${block.labels[0]}" scaling policy must have type "${want}", got "${out.Type}"`,
      path,
    );
  }
};

const task: CustomHandler = (out, block, ctx, path) => {
  const ids = (out._Identities as Obj[] | undefined) ?? [];
  delete out._Identities;
  const named: Obj[] = [];
  for (const id of ids) {
    id.Env ??= false;
    id.File ??= false;
    if (id.Name === undefined || id.Name === '' || id.Name === 'default') {
      if (out.Identity)
        problemAt(ctx, block.typeRange, 'Duplicate identity block: only one identity without a name is allowed', path);
      out.Identity = id;
    } else named.push(id);
  }
  if (named.length) out.Identities = named;
  const seen = new Map<string, Block>();
  for (const sb of block.body.items) {
    if (sb.kind !== 'block' || sb.type !== 'scaling' || sb.labels.length !== 1) continue;
    const label = sb.labels[0]!;
    const first = seen.get(label);
    if (first)
      problemAt(
        ctx,
        sb.typeRange,
        `Duplicate scaling "${label}" block: a task has at most one "${label}" scaling policy; the first was at line ${first.typeRange.start.line}`,
        path,
      );
    else seen.set(label, sb);
  }
};

/** Reports a value no job can have, at the attribute that set it. */
function rejectNegative(out: Obj, field: string, hclName: string, block: Block, ctx: DecodeCtx, path: string): void {
  if (typeof out[field] !== 'number' || out[field] >= 0) return;
  const attr = block.body.items.find((i) => i.kind === 'attribute' && i.name === hclName);
  const range = attr && attr.kind === 'attribute' ? attr.expr.range : block.typeRange;
  problemAt(ctx, range, `Invalid value for "${hclName}": must not be negative, got ${out[field]}`, path);
}

const group: CustomHandler = (out, block, ctx, path) => {
  rejectNegative(out, 'Count', 'count', block, ctx, path);
  const v = out._Vault as Obj | undefined;
  delete out._Vault;
  if (v) for (const t of (out.Tasks as Obj[] | undefined) ?? []) t.Vault ??= { ...v };
};

const job: CustomHandler = (out, block, ctx, path) => {
  const label = block.labels[0] ?? '';
  out.ID ??= label;
  out.Name ??= label;
  const lifted = (out._Tasks as Obj[] | undefined) ?? [];
  delete out._Tasks;
  if (lifted.length) {
    // Nomad's old form: a task directly in a job is a group of one with the task's name.
    const groups = lifted.map((t) => ({ Name: t.Name, Tasks: [t] }));
    out.TaskGroups = [...groups, ...((out.TaskGroups as Obj[] | undefined) ?? [])];
  }
  const v = out._Vault as Obj | undefined;
  delete out._Vault;
  if (v)
    for (const g of (out.TaskGroups as Obj[] | undefined) ?? []) for (const t of g.Tasks ?? []) t.Vault ??= { ...v };
  checkDuplicateNames(out, block, ctx, path);
};

function checkDuplicateNames(job: Obj, block: Block, ctx: DecodeCtx, path: string): void {
  const groupBlocks = block.body.items.filter(
    (b): b is Block => b.kind === 'block' && (b.type === 'group' || b.type === 'task'),
  );
  const seen = new Set<string>();
  for (const g of (job.TaskGroups as Obj[] | undefined) ?? []) {
    const gb = groupBlocks.find((b) => b.labels[0] === g.Name);
    if (seen.has(g.Name))
      problemAt(
        ctx,
        gb?.labelRanges[0] ?? block.typeRange,
        `Duplicate group "${g.Name}": group names must be unique in a job`,
        path,
      );
    seen.add(g.Name);
    const tseen = new Set<string>();
    for (const t of (g.Tasks as Obj[] | undefined) ?? []) {
      if (tseen.has(t.Name))
        problemAt(
          ctx,
          gb?.labelRanges[0] ?? block.typeRange,
          `Duplicate task "${t.Name}" in group "${g.Name}": task names must be unique in a group`,
          path,
        );
      tseen.add(t.Name);
    }
  }
}

export const HANDLERS: Record<string, CustomHandler> = {
  constraint,
  affinity,
  network,
  resources,
  vault,
  template,
  periodic,
  header,
  stringMap,
  freeform,
  loose,
  groupScaling,
  taskScaling,
  task,
  group,
  job,
};
