/**
 * Nomad Variables, the logic without the storage: shapes, path and item validation, check-and-set writes and
 * deletes, prefix listing with Nomad's pagination, and the implicit access a task's workload identity has.
 * The server keeps the variables (in its state store) and calls these; the HTTP layer maps the outcomes
 * (a CAS conflict answers 409 with the conflicting variable, as Nomad).
 */
import { DroverError, type Problem } from '../errors/index.js';
import { variablePathProblem, type Variable, type VariableLock, type VariableMetadata } from '../structs/index.js';

export type { Variable, VariableLock, VariableMetadata };

/** The metadata of a variable or a stored row: never its items, sealed or not. */
export function variableMetadata(v: Variable & { KeyID?: string; Data?: string }): VariableMetadata {
  const { Items: _items, KeyID: _key, Data: _data, ...meta } = v;
  return meta;
}

/** Nomad's limits: path characters and length, total size of the items. */
export const MAX_VARIABLE_SIZE = 64 * 1024;

/**
 * Problems with a path, empty when valid. Under `nomad/`, only `nomad/jobs...`, `nomad/job-templates/<x>` and
 * Drover's `nomad/gateway/certs/<host>` and `nomad/gateway/acme/<name>`.
 */
export function variablePathProblems(path: string): Problem[] {
  if (path.length === 0) return [{ message: 'variable requires path', path: 'Path' }];
  const bad = variablePathProblem(path);
  if (bad) return [{ message: bad, path: 'Path' }];
  const parts = path.split('/');
  if (parts[0] !== 'nomad') return [];
  if (parts.length === 1) {
    return [
      {
        message:
          '"nomad" is a reserved top-level directory path, but you may write variables to "nomad/jobs", "nomad/job-templates", or below',
        path: 'Path',
      },
    ];
  }
  if (parts[1] === 'jobs') return [];
  // Drover's own: the gateway's certificates by host (docs/operations.md, "HTTPS at the gateway").
  // ...and its ACME issuer's account key and lease (nomad/gateway/acme/account, nomad/gateway/acme/lease).
  if (parts[1] === 'gateway' && (parts[2] === 'certs' || parts[2] === 'acme') && parts.length === 4) return [];
  if (parts[1] === 'job-templates') {
    return parts.length === 3
      ? []
      : [
          {
            message: '"nomad/job-templates" is a reserved directory path, you may only write variables one level below',
            path: 'Path',
          },
        ];
  }
  return [
    {
      message:
        'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under the top-level "nomad" directory',
      path: 'Path',
    },
  ];
}

/** Every problem with a variable to be written: namespace, path, items present and within the size limit. */
export function variableProblems(v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>): Problem[] {
  const problems: Problem[] = [];
  if (v.Namespace === '*') problems.push({ message: 'cannot target the wildcard ("*") namespace', path: 'Namespace' });
  problems.push(...variablePathProblems(v.Path));
  const items = v.Items ?? {};
  const keys = Object.keys(items);
  if (keys.length === 0) problems.push({ message: 'empty variables are invalid', path: 'Items' });
  for (const k of keys) {
    if (k === '') problems.push({ message: 'item keys must not be empty', path: 'Items' });
    if (typeof items[k] !== 'string') problems.push({ message: `item "${k}" must be a string`, path: `Items.${k}` });
  }
  const size = keys.reduce((n, k) => n + Buffer.byteLength(k) + Buffer.byteLength(String(items[k] ?? '')), 0);
  if (size > MAX_VARIABLE_SIZE)
    problems.push({ message: `variables are limited to 64KiB in total size (got ${size} bytes)`, path: 'Items' });
  return problems;
}

/** Throws DroverError BadRequest listing every problem. */
export function validateVariable(v: Pick<Variable, 'Namespace' | 'Path' | 'Items'>): void {
  const problems = variableProblems(v);
  if (problems.length > 0) throw new DroverError('BadRequest', problems.map((p) => p.message).join('; '), { problems });
}

/** The outcome of a write or delete: done, or a check-and-set conflict carrying the current variable. */
export type VariableOutcome = { ok: true; variable: Variable | null } | { ok: false; conflict: Variable };

export interface WriteOptions {
  /** `?cas=`: 0 means "must not exist yet"; N means "its ModifyIndex must be N". Absent: unconditional. */
  cas?: number;
  /** The raft index this write commits at. */
  index: number;
  /** Unix nanoseconds. */
  now: number;
}

/**
 * Applies `PUT /v1/var/:path` to the current variable (undefined when absent). Validates first (throws
 * BadRequest). Keeps CreateIndex/CreateTime and the lock of an existing variable.
 */
export function applyVariableWrite(
  current: Variable | undefined,
  req: Pick<Variable, 'Namespace' | 'Path' | 'Items'>,
  o: WriteOptions,
): VariableOutcome {
  validateVariable(req);
  const conflict = casConflict(current, req, o.cas);
  if (conflict) return { ok: false, conflict };
  const variable: Variable = {
    Namespace: req.Namespace,
    Path: req.Path,
    Items: { ...req.Items },
    CreateIndex: current?.CreateIndex ?? o.index,
    ModifyIndex: o.index,
    CreateTime: current?.CreateTime ?? o.now,
    ModifyTime: o.now,
  };
  if (current?.Lock) variable.Lock = current.Lock;
  return { ok: true, variable };
}

/** Applies `DELETE /v1/var/:path`. Deleting an absent variable succeeds unless a non-zero cas expects it. */
export function applyVariableDelete(
  current: Variable | undefined,
  target: Pick<Variable, 'Namespace' | 'Path'>,
  o: { cas?: number },
): VariableOutcome {
  const conflict = casConflict(current, target, o.cas);
  return conflict ? { ok: false, conflict } : { ok: true, variable: null };
}

/** Nomad answers a conflict on an absent variable with an empty one at that path. */
function casConflict(
  current: Variable | undefined,
  target: Pick<Variable, 'Namespace' | 'Path'>,
  cas: number | undefined,
): Variable | undefined {
  if (cas === undefined) return undefined;
  if (!current)
    return cas === 0
      ? undefined
      : {
          Namespace: target.Namespace,
          Path: target.Path,
          Items: {},
          CreateIndex: 0,
          ModifyIndex: 0,
          CreateTime: 0,
          ModifyTime: 0,
        };
  return current.ModifyIndex === cas ? undefined : current;
}

/** Parses `?cas=`: absent or '' → undefined; otherwise a non-negative integer, else BadRequest. */
export function parseCas(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw new DroverError('BadRequest', `invalid cas "${raw}": expected a non-negative integer`);
  return Number(raw);
}

export interface ListOptions {
  /** `*` for every namespace. */
  namespace: string;
  prefix?: string;
  /** `?per_page=`; 0 or absent for all. */
  perPage?: number;
  /** `?next_token=` from a previous page. */
  nextToken?: string;
  /** Keep only what the caller may list (ACL filtering happens per variable, as in Nomad). */
  allow?: (v: VariableMetadata) => boolean;
}

/** `GET /v1/vars`: metadata sorted by namespace then path; `nextToken` is `<namespace>.<path>` of the next page. */
export function listVariables(
  vars: Iterable<Variable | VariableMetadata>,
  o: ListOptions,
): { items: VariableMetadata[]; nextToken: string } {
  const prefix = o.prefix ?? '';
  const all: VariableMetadata[] = [];
  for (const v of vars) {
    if (o.namespace !== '*' && v.Namespace !== o.namespace) continue;
    if (!v.Path.startsWith(prefix)) continue;
    const meta = 'Items' in v ? variableMetadata(v) : v;
    if (o.allow && !o.allow(meta)) continue;
    all.push(meta);
  }
  all.sort((a, b) => cmp(a.Namespace, b.Namespace) || cmp(a.Path, b.Path));
  let start = 0;
  if (o.nextToken) {
    start = all.findIndex((v) => cmp(token(v), o.nextToken!) >= 0);
    if (start < 0) start = all.length;
  }
  const end = o.perPage && o.perPage > 0 ? Math.min(all.length, start + o.perPage) : all.length;
  const next = all[end];
  return { items: all.slice(start, end), nextToken: next !== undefined ? token(next) : '' };
}

function token(v: VariableMetadata): string {
  return `${v.Namespace}.${v.Path}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Who a task is, as its workload identity says. */
export interface TaskIdentity {
  Namespace: string;
  JobID: string;
  Group: string;
  Task: string;
}

/**
 * Nomad's implicit workload policy: a task may read and list, in its own namespace, exactly `nomad/jobs`,
 * `nomad/jobs/<job>`, `nomad/jobs/<job>/<group>` and `nomad/jobs/<job>/<group>/<task>`. Anything else needs an
 * ACL policy attached to the job (`extraPaths`, matched exactly or as `prefix*` globs). With ACLs disabled,
 * Nomad does not check at all: `aclsDisabled` lets the task read its whole namespace.
 */
export function taskMayReadVariable(
  id: TaskIdentity,
  v: Pick<Variable, 'Namespace' | 'Path'>,
  o: { aclsDisabled?: boolean; extraPaths?: string[] } = {},
): boolean {
  if (v.Namespace !== id.Namespace) return false;
  if (o.aclsDisabled) return true;
  const own = [
    'nomad/jobs',
    `nomad/jobs/${id.JobID}`,
    `nomad/jobs/${id.JobID}/${id.Group}`,
    `nomad/jobs/${id.JobID}/${id.Group}/${id.Task}`,
  ];
  if (own.includes(v.Path)) return true;
  return (o.extraPaths ?? []).some((p) => (p.endsWith('*') ? v.Path.startsWith(p.slice(0, -1)) : p === v.Path));
}
