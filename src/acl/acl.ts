/**
 * The compiled ACL: what one token may do, merged from all its policies, asked once per request.
 *
 * Merging follows Nomad: capabilities add up across policies, and `deny` anywhere for a name wins over every
 * grant for that name. A namespace (or variable path) is looked up exactly first, then among the glob rules
 * the closest match wins (the glob with the fewest characters matched by `*`), as Nomad's findClosestMatchingGlob.
 */
import type { CoarsePolicy, NamespaceCapability, PolicyRules, VariableCapability } from './policy.js';
import { expandNamespacePolicy, expandVariablesPolicy } from './policy.js';

type Level = 'deny' | 'read' | 'write' | 'list' | '';

interface NamespaceGrant {
  caps: Set<NamespaceCapability>;
  /** Path or glob → capabilities. */
  variables: Map<string, Set<VariableCapability>>;
}

/** Rules keyed by exact name, plus the glob rules; the closest glob wins. */
class GlobMap<T> {
  readonly exact = new Map<string, T>();
  readonly globs = new Map<string, T>();

  getOrCreate(name: string, make: () => T): T {
    const m = name.includes('*') ? this.globs : this.exact;
    let v = m.get(name);
    if (v === undefined) m.set(name, (v = make()));
    return v;
  }

  lookup(name: string): T | undefined {
    const e = this.exact.get(name);
    if (e !== undefined) return e;
    let best: T | undefined;
    let bestScore = Infinity;
    for (const [glob, v] of this.globs) {
      if (!globMatch(glob, name)) continue;
      const score = name.length - glob.replaceAll('*', '').length;
      if (score < bestScore) {
        best = v;
        bestScore = score;
      }
    }
    return best;
  }

  *values(): IterableIterator<T> {
    yield* this.exact.values();
    yield* this.globs.values();
  }
}

/** `*` matches any run of characters (including `/`), everything else itself. Linear time: no regex. */
export function globMatch(glob: string, s: string): boolean {
  const parts = glob.split('*');
  if (parts.length === 1) return glob === s;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!s.startsWith(first) || s.length < first.length + last.length || !s.endsWith(last)) return false;
  let pos = first.length;
  const end = s.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const p = parts[i]!;
    const at = s.indexOf(p, pos);
    if (at < 0 || at + p.length > end) return false;
    pos = at + p.length;
  }
  return true;
}

const RANK: Record<Level, number> = { '': 0, list: 1, read: 2, write: 3, deny: 4 };

function mergeLevel(a: Level, b: CoarsePolicy | ''): Level {
  const bl: Level = b === 'scale' ? '' : b;
  return RANK[bl] > RANK[a] ? bl : a;
}

/** Everything `policy` allows for a coarse rule (node, agent, operator, plugin): write includes read, deny nothing. */
function allows(level: Level, op: 'read' | 'write' | 'list'): boolean {
  if (level === 'deny' || level === '') return false;
  if (op === 'list') return true;
  if (op === 'read') return level === 'read' || level === 'write';
  return level === 'write';
}

export interface WorkloadClaims {
  namespace: string;
  jobID: string;
  group: string;
  task: string;
  allocID: string;
}

export class ACL {
  private readonly namespaces = new GlobMap<NamespaceGrant>();
  private node: Level = '';
  private agent: Level = '';
  private operator: Level = '';
  private plugin: Level = '';
  private quota: Level = '';

  private constructor(
    readonly management: boolean,
    /** Set for a task's workload identity: its variables and its namespace's services, nothing else. */
    readonly workload?: WorkloadClaims,
  ) {}

  static management(): ACL {
    return new ACL(true);
  }

  /** The ACL of the given policies' rules merged (an empty list: nothing allowed). */
  static compile(policies: PolicyRules[]): ACL {
    const acl = new ACL(false);
    for (const p of policies) acl.add(p);
    return acl;
  }

  /**
   * A task's implicit policy, as Nomad's: read and list on `nomad/jobs`, `nomad/jobs/<job>`,
   * `nomad/jobs/<job>/<group>` and `nomad/jobs/<job>/<group>/<task>` in its own namespace, and reading the
   * service catalog of its namespace (what its templates' `nomadService` asks).
   */
  static workload(claims: WorkloadClaims, attached: PolicyRules[] = []): ACL {
    const acl = new ACL(false, claims);
    const grant: NamespaceGrant = { caps: new Set(), variables: new Map() };
    for (const p of [
      'nomad/jobs',
      `nomad/jobs/${claims.jobID}`,
      `nomad/jobs/${claims.jobID}/${claims.group}`,
      `nomad/jobs/${claims.jobID}/${claims.group}/${claims.task}`,
    ]) {
      grant.variables.set(p, new Set<VariableCapability>(['read', 'list']));
    }
    acl.namespaces.exact.set(claims.namespace, grant);
    // Policies attached to the job (Nomad's workload-associated policies, `JobACL`) add to the implicit grant.
    for (const p of attached) acl.add(p);
    return acl;
  }

  private add(p: PolicyRules): void {
    for (const rule of p.namespaces) {
      const g = this.namespaces.getOrCreate(rule.name, () => ({ caps: new Set(), variables: new Map() }));
      for (const c of [...expandNamespacePolicy(rule.policy), ...rule.capabilities]) g.caps.add(c);
      const vars =
        rule.variables ?? (rule.policy ? [{ path: '*', capabilities: expandVariablesPolicy(rule.policy) }] : []);
      for (const v of vars) {
        let set = g.variables.get(v.path);
        if (set === undefined) g.variables.set(v.path, (set = new Set()));
        for (const c of v.capabilities) set.add(c);
      }
    }
    this.node = mergeLevel(this.node, p.node);
    this.agent = mergeLevel(this.agent, p.agent);
    this.operator = mergeLevel(this.operator, p.operator);
    this.plugin = mergeLevel(this.plugin, p.plugin);
    this.quota = mergeLevel(this.quota, p.quota);
  }

  /** Whether the token may do `cap` in namespace `ns` (Nomad's AllowNamespaceOperation). */
  allowNamespaceOperation(ns: string, cap: NamespaceCapability): boolean {
    if (this.management) return true;
    const g = this.namespaces.lookup(ns);
    if (g === undefined || g.caps.has('deny')) return false;
    return g.caps.has(cap);
  }

  /** Whether the token may do anything at all in `ns`: what namespace lists filter by (Nomad's AllowNamespace). */
  allowNamespace(ns: string): boolean {
    if (this.management) return true;
    const g = this.namespaces.lookup(ns);
    if (g === undefined || g.caps.has('deny')) return false;
    if (g.caps.size > 0) return true;
    for (const caps of g.variables.values()) if (caps.size > 0 && !caps.has('deny')) return true;
    return false;
  }

  /** Whether any namespace rule grants anything: a token with none is refused lists across namespaces (403, not []). */
  grantsAnyNamespace(): boolean {
    if (this.management || this.workload) return true;
    for (const g of this.namespaces.values()) {
      if (g.caps.has('deny')) continue;
      if (g.caps.size > 0) return true;
      for (const caps of g.variables.values()) if (caps.size > 0 && !caps.has('deny')) return true;
    }
    return false;
  }

  /** Reading the service catalog of `ns`: read-job, or a workload identity of that namespace. */
  allowServiceRead(ns: string): boolean {
    if (this.workload) return this.workload.namespace === ns;
    return this.allowNamespaceOperation(ns, 'read-job');
  }

  /** Whether the token may do `op` on the variable at `path` in `ns` (Nomad's AllowVariableOperation). */
  allowVariableOperation(ns: string, path: string, op: VariableCapability): boolean {
    if (this.management) return true;
    const g = this.namespaces.lookup(ns);
    if (g === undefined || g.caps.has('deny')) return false;
    let caps = g.variables.get(path);
    if (caps === undefined) {
      let bestScore = Infinity;
      for (const [glob, c] of g.variables) {
        if (!glob.includes('*') || !globMatch(glob, path)) continue;
        const score = path.length - glob.replaceAll('*', '').length;
        if (score < bestScore) {
          caps = c;
          bestScore = score;
        }
      }
    }
    if (caps === undefined || caps.has('deny')) return false;
    return caps.has(op);
  }

  /** Listing variables under a prefix: some rule of the namespace may list (each entry is filtered after). */
  allowVariableList(ns: string): boolean {
    if (this.management) return true;
    const g = this.namespaces.lookup(ns);
    if (g === undefined || g.caps.has('deny')) return false;
    for (const caps of g.variables.values()) if (caps.has('list') && !caps.has('deny')) return true;
    return false;
  }

  allowNode(op: 'read' | 'write'): boolean {
    return this.management || allows(this.node, op);
  }
  allowAgent(op: 'read' | 'write'): boolean {
    return this.management || allows(this.agent, op);
  }
  allowOperator(op: 'read' | 'write'): boolean {
    return this.management || allows(this.operator, op);
  }
  allowPlugin(op: 'read' | 'list'): boolean {
    return this.management || allows(this.plugin, op);
  }
  allowQuota(op: 'read' | 'write'): boolean {
    return this.management || allows(this.quota, op);
  }
}
