/**
 * Admission limits: bounds on what a job, a variable or a node may hold, checked before anything is
 * stored or scheduled. Each limit exists because a value past it froze or crashed an agent (issue #13):
 * `Count = 1e12` made every scheduling attempt allocate gigabytes, a task `Config` nested 10,000 levels
 * overflowed the stack in every recursive walk after it. Problems name the field, as validation does.
 *
 * The bounds are deliberately far above any real job (docs/operations.md lists them).
 */
import type { Problem } from '../errors/index.js';
import type { Job } from '../structs/index.js';

export const admissionLimits = {
  /** Instances of one task group. Nomad's own C2M test ran 2M allocations over 6,100 jobs. */
  maxGroupCount: 100_000,
  /** Task groups in one job, tasks in one group. */
  maxGroups: 1_000,
  maxTasksPerGroup: 1_000,
  /** Nesting depth of a free-form value (task Config, Payload, Secrets): maps and lists inside each other. */
  maxFreeFormDepth: 32,
  /** Maps, lists and scalars in one free-form value. */
  maxFreeFormNodes: 100_000,
} as const;

type Obj = Record<string, any>;

/** Depth and size of a JSON-like value, walked iteratively (a recursive walk is what overflowed). */
export function measureValue(v: unknown, stopAtDepth = Number.POSITIVE_INFINITY): { depth: number; nodes: number } {
  let depth = 0;
  let nodes = 0;
  const todo: [unknown, number][] = [[v, 1]];
  while (todo.length > 0) {
    const [x, d] = todo.pop()!;
    nodes++;
    if (x === null || typeof x !== 'object') continue;
    if (d > depth) depth = d;
    if (depth > stopAtDepth) break;
    for (const c of Array.isArray(x) ? x : Object.values(x as object)) todo.push([c, d + 1]);
  }
  return { depth, nodes };
}

/** Problems of a free-form value at `path` (depth counts the value itself as level 1). */
export function checkFreeForm(v: unknown, path: string, out: Problem[]): void {
  if (v === null || typeof v !== 'object') return;
  const { depth, nodes } = measureValue(v, admissionLimits.maxFreeFormDepth);
  if (depth > admissionLimits.maxFreeFormDepth) {
    out.push({ path, message: `nested more than ${admissionLimits.maxFreeFormDepth} levels deep` });
  } else if (nodes > admissionLimits.maxFreeFormNodes) {
    out.push({ path, message: `holds ${nodes} values, more than the limit of ${admissionLimits.maxFreeFormNodes}` });
  }
}

function checkPorts(networks: unknown, path: string, out: Problem[]): void {
  if (!Array.isArray(networks)) return;
  networks.forEach((n: Obj | null, i) => {
    for (const kind of ['ReservedPorts', 'DynamicPorts'] as const) {
      const ports = n?.[kind];
      if (!Array.isArray(ports)) continue;
      ports.forEach((p: Obj | null, j) => {
        const at = `${path}[${i}].${kind}[${j}]`;
        const value = p?.Value;
        if (value != null && (!Number.isInteger(value) || value < 0 || value > 65535)) {
          out.push({ path: `${at}.Value`, message: `port ${value} is not an integer between 0 and 65535` });
        }
        const to = p?.To;
        // -1 maps the port to the same number inside the network namespace, as Nomad's `to = -1`.
        if (to != null && (!Number.isInteger(to) || to < -1 || to > 65535)) {
          out.push({ path: `${at}.To`, message: `port mapping ${to} is not an integer between -1 and 65535` });
        }
      });
    }
  });
}

/** Size bounds of a job: counts, ports, free-form values. Runs in validateJob, so every admission path has it. */
export function checkJobLimits(job: Job): Problem[] {
  const out: Problem[] = [];
  const j = job as Obj;
  checkFreeForm(j.Payload, 'Payload', out);
  const groups: unknown = j.TaskGroups;
  if (!Array.isArray(groups)) return out;
  if (groups.length > admissionLimits.maxGroups)
    out.push({
      path: 'TaskGroups',
      message: `${groups.length} task groups, more than the limit of ${admissionLimits.maxGroups}`,
    });
  groups.forEach((g: Obj | null, gi) => {
    if (g === null || typeof g !== 'object') return;
    const gp = `TaskGroups[${gi}]`;
    const count = g.Count;
    if (count != null) {
      if (typeof count !== 'number' || !Number.isInteger(count))
        out.push({ path: `${gp}.Count`, message: `count must be a whole number, got ${count}` });
      else if (count > admissionLimits.maxGroupCount)
        out.push({
          path: `${gp}.Count`,
          message: `count ${count} is more than the limit of ${admissionLimits.maxGroupCount}`,
        });
    }
    checkPorts(g.Networks, `${gp}.Networks`, out);
    const tasks: unknown = g.Tasks;
    if (!Array.isArray(tasks)) return;
    if (tasks.length > admissionLimits.maxTasksPerGroup)
      out.push({
        path: `${gp}.Tasks`,
        message: `${tasks.length} tasks, more than the limit of ${admissionLimits.maxTasksPerGroup}`,
      });
    tasks.forEach((t: Obj | null, ti) => {
      if (t === null || typeof t !== 'object') return;
      const tp = `${gp}.Tasks[${ti}]`;
      checkFreeForm(t.Config, `${tp}.Config`, out);
      checkFreeForm(t.Secrets, `${tp}.Secrets`, out);
      checkPorts(t.Resources?.Networks, `${tp}.Resources.Networks`, out);
    });
  });
  return out;
}

/** A variable's Items must be a map of strings (Nomad's `map[string]string`), not a string or a list. */
export function checkVariableItems(items: unknown, out: Problem[], path = 'Items'): void {
  if (items === undefined || items === null) return;
  if (typeof items !== 'object' || Array.isArray(items)) {
    out.push({ path, message: `expected an object of strings, got ${Array.isArray(items) ? 'a list' : typeof items}` });
    return;
  }
  for (const [k, v] of Object.entries(items)) {
    if (typeof v !== 'string')
      out.push({
        path: `${path}.${k}`,
        message: `expected a string, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`,
      });
  }
}

/** The struct-valued fields of a node that a client registers: each must be an object when present. */
const nodeObjectFields = [
  'Attributes',
  'Meta',
  'NodeResources',
  'ReservedResources',
  'Resources',
  'Reserved',
  'Drivers',
  'HostVolumes',
  'Links',
  'Events',
] as const;

/** Shape of a node on register: an object, with object-valued resources and maps; numbers where numbers go. */
export function checkNodeShape(node: unknown, path = 'Node'): Problem[] {
  const out: Problem[] = [];
  if (node === null || typeof node !== 'object' || Array.isArray(node)) {
    out.push({ path, message: 'expected a node object' });
    return out;
  }
  const n = node as Obj;
  for (const f of nodeObjectFields) {
    const v = n[f];
    if (v == null) continue;
    const wantList = f === 'Events';
    if (wantList ? !Array.isArray(v) : typeof v !== 'object' || Array.isArray(v)) {
      out.push({
        path: `${path}.${f}`,
        message: `expected ${wantList ? 'a list' : 'an object'}, got ${Array.isArray(v) ? 'a list' : typeof v}`,
      });
    }
  }
  for (const f of ['Attributes', 'Meta'] as const) {
    const m = n[f];
    if (m === null || typeof m !== 'object' || Array.isArray(m)) continue;
    for (const [k, v] of Object.entries(m))
      if (typeof v !== 'string') out.push({ path: `${path}.${f}.${k}`, message: 'expected a string' });
  }
  const r = n.NodeResources;
  if (r !== null && typeof r === 'object' && !Array.isArray(r)) {
    for (const [part, fields] of [
      ['Cpu', ['CpuShares', 'TotalCpuCores']],
      ['Memory', ['MemoryMB']],
      ['Disk', ['DiskMB']],
    ] as const) {
      const sub = r[part];
      if (sub == null) continue;
      if (typeof sub !== 'object' || Array.isArray(sub)) {
        out.push({ path: `${path}.NodeResources.${part}`, message: 'expected an object' });
        continue;
      }
      for (const f of fields) {
        const v = sub[f];
        if (v != null && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
          out.push({
            path: `${path}.NodeResources.${part}.${f}`,
            message: `expected a non-negative number, got ${JSON.stringify(v)}`,
          });
        }
      }
    }
    if (r.Networks != null && !Array.isArray(r.Networks))
      out.push({ path: `${path}.NodeResources.Networks`, message: 'expected a list' });
  }
  checkFreeForm(n.Drivers, `${path}.Drivers`, out);
  return out;
}
