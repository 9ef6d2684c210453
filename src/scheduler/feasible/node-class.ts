/**
 * Computed node classes. Nodes whose scheduling-relevant properties are equal share a class, so a
 * feasibility result for one node holds for every node of its class (Nomad's ComputedClass). Keys
 * under `unique.` are left out: that is what makes them unique, and constraints on them "escape" the
 * class cache.
 */
import type { Node } from '../../structs/index.js';

function fnv(s: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function sortedEntries(m: Record<string, string> | null | undefined): string {
  if (!m) return '';
  const keys = Object.keys(m)
    .filter((k) => !k.startsWith('unique.'))
    .sort();
  let out = '';
  for (const k of keys) out += `${k}\u0000${m[k]}\u0001`;
  return out;
}

/** The class string of a node: `v1:` and a 64-bit hash in hex. Deterministic across processes. */
export function computeNodeClass(node: Node): string {
  let drivers = '';
  for (const [name, d] of Object.entries(node.Drivers ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    drivers += `${name}:${d.Detected ? 1 : 0}${d.Healthy ? 1 : 0};`;
  }
  const text = [
    node.Datacenter,
    node.NodeClass,
    node.NodePool,
    sortedEntries(node.Attributes),
    sortedEntries(node.Meta),
    drivers,
  ].join('\u0002');
  const hi = fnv(text, 0x811c9dc5).toString(16).padStart(8, '0');
  const lo = fnv(text, 0x050c5d1f).toString(16).padStart(8, '0');
  return `v1:${hi}${lo}`;
}

const classCache = new WeakMap<Node, string>();

/** The node's class: the one the server stored, or computed once per node object. */
export function nodeClassOf(node: Node): string {
  if (node.ComputedClass) return node.ComputedClass;
  let c = classCache.get(node);
  if (c === undefined) {
    c = computeNodeClass(node);
    classCache.set(node, c);
  }
  return c;
}
