/**
 * Runtime interpolation, as Nomad's client does it: `${NOMAD_PORT_http}`, `${node.unique.id}`,
 * `${node.unique.name}`, `${node.datacenter}`, `${node.region}`, `${node.class}`, `${node.pool}`, `${attr.<name>}`,
 * `${meta.<key>}` and `${env.X}` (or plain `${X}`) for any variable of the task's environment. An unknown
 * variable is left as written, as Nomad leaves it. Used for the task's env block, its driver `config`
 * (recursively), and service names, tags and check fields; templates reuse it.
 */
import { nodeVariable } from '../structs/index.js';

export interface InterpolationNode {
  ID: string;
  Name: string;
  Datacenter: string;
  NodeClass: string;
  NodePool: string;
  Attributes: Record<string, string>;
  Meta: Record<string, string>;
}

export interface InterpolationContext {
  /** The task's environment (NOMAD_* and the env block). */
  env: Record<string, string>;
  node?: InterpolationNode;
  region?: string;
}

/** The value of one variable name (the text between `${` and `}`), or undefined when unknown. */
export function lookupVariable(name: string, ctx: InterpolationContext): string | undefined {
  const n = ctx.node;
  if (name.startsWith('env.')) return ctx.env[name.slice(4)];
  if (n) {
    const v = nodeVariable(name, n);
    if (v !== undefined || name.startsWith('attr.') || name.startsWith('meta.')) return v;
  }
  if (name === 'node.region') return ctx.region;
  return ctx.env[name];
}

const VAR = /\$\{([^{}]+)\}/g;

/** Replaces every known `${...}` in `s`. */
export function interpolateString(s: string, ctx: InterpolationContext): string {
  if (!s.includes('${')) return s;
  return s.replace(VAR, (whole, name: string) => lookupVariable(name.trim(), ctx) ?? whole);
}

/** Interpolates every string inside maps and lists (keys too, as Nomad does for driver config maps). */
export function interpolateDeep<T>(value: T, ctx: InterpolationContext): T {
  if (typeof value === 'string') return interpolateString(value, ctx) as T;
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, ctx)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      out[interpolateString(k, ctx)] = interpolateDeep(v, ctx);
    return out as T;
  }
  return value;
}

/** Interpolates each value of an env block against the base env (not against each other, as Nomad). */
export function interpolateEnvBlock(
  block: Record<string, string> | null | undefined,
  ctx: InterpolationContext,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(block ?? {})) out[k] = interpolateString(String(v), ctx);
  return out;
}
