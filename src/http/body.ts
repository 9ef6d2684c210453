/**
 * Checks on a parsed request body before any handler sees it. Every handler walks bodies recursively
 * somewhere (shape checks, defaults, JSON encoding for the store), so a document nested 10,000 levels
 * deep overflowed the stack in one of them, and a `__proto__` key turned into a prototype swap wherever
 * a body was merged into an object. Both are refused here, once, with the path of the offending key.
 */
import { badRequest } from '../errors/index.js';

/** Deepest nesting of objects and arrays accepted in a request body. */
export const maxBodyDepth = 64;

const forbiddenKeys = new Set(['__proto__']);

/**
 * Throws BadRequest naming the path when `v` nests too deeply or holds a forbidden key. The walk recurses at most
 * `maxBodyDepth` levels (it stops there), so a hostile depth cannot overflow the stack; the path is built only
 * for the offending value, on the way back up: building it for every key of every body was most of this check's
 * time and garbage on the register path.
 */
export function checkBodyValue(v: unknown): void {
  const bad = findProblem(v, 1);
  if (bad === undefined) return;
  const at = bad.path.reverse().join('').replace(/^\./, '');
  if (bad.key !== undefined) throw badRequest(`request body has the key "${bad.key}" at ${at}, which is not allowed`);
  throw badRequest(`request body nests objects or lists more than ${maxBodyDepth} levels deep at ${at || '(root)'}`);
}

/** What is wrong and where: `path` holds the steps (`.key`, `[i]`) innermost first. */
interface BodyProblem {
  key?: string;
  path: string[];
}

function findProblem(x: unknown, depth: number): BodyProblem | undefined {
  if (x === null || typeof x !== 'object') return undefined;
  if (depth > maxBodyDepth) return { path: [] };
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) {
      const bad = findProblem(x[i], depth + 1);
      if (bad !== undefined) {
        bad.path.push(`[${i}]`);
        return bad;
      }
    }
    return undefined;
  }
  for (const k of Object.keys(x)) {
    if (forbiddenKeys.has(k)) return { key: k, path: [`.${k}`] };
    const bad = findProblem((x as Record<string, unknown>)[k], depth + 1);
    if (bad !== undefined) {
      bad.path.push(`.${k}`);
      return bad;
    }
  }
  return undefined;
}

/** The body must be a JSON object (every write endpoint takes one): `null`, a list or a scalar is refused. */
export function requireObjectBody(v: unknown): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw badRequest(
      `request body must be a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`,
    );
  }
}
