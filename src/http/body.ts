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

/** Throws BadRequest naming the path when `v` nests too deeply or holds a forbidden key. Iterative. */
export function checkBodyValue(v: unknown): void {
  const todo: { v: unknown; depth: number; path: string }[] = [{ v, depth: 1, path: '' }];
  while (todo.length > 0) {
    const { v: x, depth, path } = todo.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth > maxBodyDepth)
      throw badRequest(
        `request body nests objects or lists more than ${maxBodyDepth} levels deep at ${path || '(root)'}`,
      );
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) todo.push({ v: x[i], depth: depth + 1, path: `${path}[${i}]` });
      continue;
    }
    for (const k of Object.keys(x)) {
      const at = path === '' ? k : `${path}.${k}`;
      if (forbiddenKeys.has(k)) throw badRequest(`request body has the key "${k}" at ${at}, which is not allowed`);
      todo.push({ v: (x as Record<string, unknown>)[k], depth: depth + 1, path: at });
    }
  }
}

/** The body must be a JSON object (every write endpoint takes one): `null`, a list or a scalar is refused. */
export function requireObjectBody(v: unknown): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw badRequest(
      `request body must be a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`,
    );
  }
}
