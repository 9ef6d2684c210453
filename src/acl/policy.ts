/**
 * Nomad's ACL policy language: HCL rules read into plain data, every mistake reported with its line.
 *
 *   namespace "web-*" { policy = "read"  capabilities = ["submit-job"]
 *                       variables { path "nomad/jobs/*" { capabilities = ["read", "list"] } } }
 *   node { policy = "read" }   agent { ... }   operator { ... }   quota { ... }   plugin { ... }
 *   host_volume "ssd-*" { policy = "write" }   node_pool "x" { policy = "read" }
 *
 * A `policy` is shorthand for a set of capabilities (expandNamespacePolicy below, as Nomad's acl/policy.go);
 * it also grants variables (`read` → read and list on every path, `write` → write and destroy too), as Nomad
 * does when a namespace rule gives no `variables` block of its own.
 */
import { DroverError, type Problem } from '../errors/index.js';
import {
  diagnosticToProblem,
  evaluate,
  makeEvalContext,
  parseHCL,
  toJS,
  type Block,
  type Body,
} from '../jobspec/hcl/index.js';

export type CoarsePolicy = 'deny' | 'read' | 'write' | 'list' | 'scale';

export const NAMESPACE_CAPABILITIES = [
  'deny',
  'list-jobs',
  'parse-job',
  'read-job',
  'submit-job',
  'dispatch-job',
  'read-logs',
  'read-fs',
  'alloc-exec',
  'alloc-node-exec',
  'alloc-lifecycle',
  'csi-register-plugin',
  'csi-write-volume',
  'csi-read-volume',
  'csi-list-volume',
  'csi-mount-volume',
  'list-scaling-policies',
  'read-scaling-policy',
  'read-job-scaling',
  'scale-job',
  'submit-recommendation',
  'sentinel-override',
  'host-volume-read',
  'host-volume-write',
  'host-volume-register',
  'host-volume-delete',
] as const;
export type NamespaceCapability = (typeof NAMESPACE_CAPABILITIES)[number];

export const VARIABLE_CAPABILITIES = ['read', 'write', 'destroy', 'list', 'deny'] as const;
export type VariableCapability = (typeof VARIABLE_CAPABILITIES)[number];

const HOST_VOLUME_CAPABILITIES = ['deny', 'mount-readonly', 'mount-readwrite'] as const;

export interface NamespaceRule {
  name: string;
  policy: CoarsePolicy | '';
  capabilities: NamespaceCapability[];
  /** Path glob → capabilities; null when the rule has no `variables` block. */
  variables: { path: string; capabilities: VariableCapability[] }[] | null;
}

export interface PolicyRules {
  namespaces: NamespaceRule[];
  nodePools: { name: string; policy: CoarsePolicy | '' }[];
  hostVolumes: { name: string; policy: CoarsePolicy | ''; capabilities: string[] }[];
  node: CoarsePolicy | '';
  agent: CoarsePolicy | '';
  operator: CoarsePolicy | '';
  quota: CoarsePolicy | '';
  plugin: CoarsePolicy | '';
}

const READ_CAPS: NamespaceCapability[] = [
  'list-jobs',
  'parse-job',
  'read-job',
  'csi-list-volume',
  'csi-read-volume',
  'read-job-scaling',
  'list-scaling-policies',
  'read-scaling-policy',
  'host-volume-read',
];
const WRITE_CAPS: NamespaceCapability[] = [
  ...READ_CAPS,
  'scale-job',
  'submit-job',
  'dispatch-job',
  'read-logs',
  'read-fs',
  'alloc-exec',
  'alloc-lifecycle',
  'csi-mount-volume',
  'csi-write-volume',
  'submit-recommendation',
  'host-volume-write',
  'host-volume-register',
];

/** The capabilities a namespace `policy = "..."` stands for, as Nomad's expandNamespacePolicy. */
export function expandNamespacePolicy(policy: CoarsePolicy | ''): NamespaceCapability[] {
  switch (policy) {
    case 'deny':
      return ['deny'];
    case 'read':
      return READ_CAPS;
    case 'write':
      return WRITE_CAPS;
    case 'scale':
      return ['list-scaling-policies', 'read-scaling-policy', 'read-job-scaling', 'scale-job'];
    default:
      return [];
  }
}

/** The variables a namespace `policy` grants when the rule has no `variables` block. */
export function expandVariablesPolicy(policy: CoarsePolicy | ''): VariableCapability[] {
  if (policy === 'read') return ['read', 'list'];
  if (policy === 'write') return ['read', 'list', 'write', 'destroy'];
  if (policy === 'deny') return ['deny'];
  return [];
}

/** Namespace labels: Nomad's name characters plus `*` for globs. */
const NAMESPACE_LABEL = /^[a-zA-Z0-9*-]{1,128}$/;

class PolicyReader {
  readonly problems: Problem[] = [];
  private readonly ctx = makeEvalContext({ functions: {} });

  constructor(private readonly file: string) {}

  problem(message: string, at?: { start: { line: number; column: number } }): void {
    this.problems.push({ message, file: this.file, line: at?.start.line, column: at?.start.column });
  }

  /** Attributes of a block body as JS values; unknown attributes and nested blocks are reported. */
  attrs(
    body: Body,
    where: string,
    allowed: string[],
    blocks: string[] = [],
  ): { values: Record<string, unknown>; blocks: Block[] } {
    const values: Record<string, unknown> = {};
    const nested: Block[] = [];
    for (const item of body.items) {
      if (item.kind === 'attribute') {
        if (!allowed.includes(item.name)) {
          this.problem(
            `unsupported argument "${item.name}" in ${where}; expected ${allowed.join(', ') || 'no arguments'}`,
            item.nameRange,
          );
          continue;
        }
        const r = evaluate(item.expr, this.ctx);
        for (const d of r.diagnostics) if (d.severity === 'error') this.problems.push(diagnosticToProblem(d));
        values[item.name] = toJS(r.value);
      } else if (blocks.includes(item.type)) {
        nested.push(item);
      } else {
        this.problem(`unsupported block "${item.type}" in ${where}`, item.typeRange);
      }
    }
    return { values, blocks: nested };
  }

  coarse(v: unknown, where: string, allowed: CoarsePolicy[], at: Block): CoarsePolicy | '' {
    if (v === undefined) return '';
    if (typeof v !== 'string' || !(allowed as string[]).includes(v)) {
      this.problem(
        `invalid policy ${JSON.stringify(v)} in ${where}; expected one of ${allowed.join(', ')}`,
        at.typeRange,
      );
      return '';
    }
    return v as CoarsePolicy;
  }

  capabilities<T extends string>(v: unknown, where: string, allowed: readonly T[], at: Block): T[] {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((c) => typeof c !== 'string')) {
      this.problem(`capabilities in ${where} must be a list of strings`, at.typeRange);
      return [];
    }
    const out: T[] = [];
    for (const c of v as string[]) {
      if ((allowed as readonly string[]).includes(c)) out.push(c as T);
      else this.problem(`invalid capability "${c}" in ${where}; expected one of ${allowed.join(', ')}`, at.typeRange);
    }
    return out;
  }
}

/**
 * Reads a policy's rules. Throws ACLPolicyInvalid listing every problem with its line, so a bad policy is
 * refused whole and nothing of it is stored.
 */
export function parsePolicyRules(text: string, file = 'policy.hcl'): PolicyRules {
  const parsed = parseHCL(text, file);
  const r = new PolicyReader(file);
  for (const d of parsed.diagnostics) if (d.severity === 'error') r.problems.push(diagnosticToProblem(d));
  const rules: PolicyRules = {
    namespaces: [],
    nodePools: [],
    hostVolumes: [],
    node: '',
    agent: '',
    operator: '',
    quota: '',
    plugin: '',
  };
  const singles = ['node', 'agent', 'operator', 'quota', 'plugin'] as const;
  const seen = new Set<string>();
  for (const item of parsed.body.items) {
    if (item.kind === 'attribute') {
      r.problem(
        `unexpected argument "${item.name}" at the top of a policy; expected blocks namespace, node, agent, operator, quota, plugin, host_volume, node_pool`,
        item.nameRange,
      );
      continue;
    }
    const b = item;
    if ((singles as readonly string[]).includes(b.type)) {
      const kind = b.type as (typeof singles)[number];
      if (b.labels.length > 0) r.problem(`block "${kind}" takes no label`, b.typeRange);
      if (seen.has(kind)) r.problem(`block "${kind}" is given twice`, b.typeRange);
      seen.add(kind);
      const { values } = r.attrs(b.body, `${kind} block`, ['policy']);
      const allowed: CoarsePolicy[] = kind === 'plugin' ? ['deny', 'read', 'list'] : ['deny', 'read', 'write'];
      rules[kind] = r.coarse(values['policy'], `${kind} block`, allowed, b);
      continue;
    }
    if (b.type === 'namespace') {
      const name = b.labels[0] ?? '';
      if (b.labels.length !== 1 || !NAMESPACE_LABEL.test(name)) {
        r.problem(
          `namespace block needs one label: a namespace name or glob (letters, digits, "-", "*"), got ${JSON.stringify(b.labels)}`,
          b.typeRange,
        );
        continue;
      }
      const where = `namespace "${name}"`;
      const { values, blocks } = r.attrs(b.body, where, ['policy', 'capabilities'], ['variables']);
      const rule: NamespaceRule = {
        name,
        policy: r.coarse(values['policy'], where, ['deny', 'read', 'write', 'scale'], b),
        capabilities: r.capabilities(values['capabilities'], where, NAMESPACE_CAPABILITIES, b),
        variables: null,
      };
      for (const vb of blocks) {
        if (vb.labels.length > 0) r.problem(`block "variables" takes no label`, vb.typeRange);
        const inner = r.attrs(vb.body, `${where} variables`, [], ['path']);
        rule.variables ??= [];
        for (const pb of inner.blocks) {
          const path = pb.labels[0];
          if (pb.labels.length !== 1 || !path) {
            r.problem(`path block in ${where} variables needs one label: the variable path or glob`, pb.typeRange);
            continue;
          }
          const pw = `${where} variables path "${path}"`;
          const pv = r.attrs(pb.body, pw, ['capabilities']);
          rule.variables.push({
            path,
            capabilities: r.capabilities(pv.values['capabilities'], pw, VARIABLE_CAPABILITIES, pb),
          });
        }
      }
      rules.namespaces.push(rule);
      continue;
    }
    if (b.type === 'host_volume' || b.type === 'node_pool') {
      const name = b.labels[0] ?? '';
      if (b.labels.length !== 1 || name === '') {
        r.problem(`${b.type} block needs one label: a name or glob`, b.typeRange);
        continue;
      }
      const where = `${b.type} "${name}"`;
      if (b.type === 'host_volume') {
        const { values } = r.attrs(b.body, where, ['policy', 'capabilities']);
        rules.hostVolumes.push({
          name,
          policy: r.coarse(values['policy'], where, ['deny', 'read', 'write'], b),
          capabilities: r.capabilities(values['capabilities'], where, HOST_VOLUME_CAPABILITIES, b),
        });
      } else {
        const { values } = r.attrs(b.body, where, ['policy', 'capabilities']);
        rules.nodePools.push({ name, policy: r.coarse(values['policy'], where, ['deny', 'read', 'write'], b) });
      }
      continue;
    }
    r.problem(
      `unknown block "${b.type}"; expected namespace, node, agent, operator, quota, plugin, host_volume or node_pool`,
      b.typeRange,
    );
  }
  const empty =
    rules.namespaces.length === 0 &&
    rules.nodePools.length === 0 &&
    rules.hostVolumes.length === 0 &&
    singles.every((k) => rules[k] === '');
  if (r.problems.length === 0 && empty)
    r.problem(
      'the policy grants nothing: expected at least one namespace, node, agent, operator, quota, plugin or host_volume rule',
    );
  if (r.problems.length > 0) {
    const lines = r.problems.map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message));
    throw new DroverError('ACLPolicyInvalid', `Failed to parse ACL policy: ${lines.join('; ')}`, {
      problems: r.problems,
    });
  }
  return rules;
}
