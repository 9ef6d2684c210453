import { describe, expect, it } from 'vitest';
import { checkBodyValue, maxBodyDepth } from './body.js';

/** `inner` wrapped in `levels` objects under the key `k`. */
function nest(levels: number, inner: unknown): unknown {
  let v = inner;
  for (let i = 0; i < levels; i++) v = { k: v };
  return v;
}

describe('checkBodyValue', () => {
  it('accepts a body exactly as deep as the limit (objects and lists count), and plain values', () => {
    expect(() => checkBodyValue(nest(maxBodyDepth - 1, { a: [1] }))).toThrow(/levels deep at (k\.){62}k\.a$/);
    expect(() => checkBodyValue(nest(maxBodyDepth - 2, { a: [1, 'x', null] }))).not.toThrow();
    expect(() => checkBodyValue(null)).not.toThrow();
    expect(() => checkBodyValue({ Job: { TaskGroups: [{ Tasks: [{ Config: { args: ['a'] } }] }] } })).not.toThrow();
  });

  it('names the path of a value one level too deep, through keys and list indexes', () => {
    const deep = { Job: { TaskGroups: [{}, { Tasks: [nest(maxBodyDepth, 1)] }] } };
    expect(() => checkBodyValue(deep)).toThrow(
      new RegExp(`more than ${maxBodyDepth} levels deep at Job\\.TaskGroups\\[1\\]\\.Tasks\\[0\\](\\.k)+$`),
    );
    expect(() => checkBodyValue([nest(maxBodyDepth, 1)])).toThrow(/levels deep at \[0\]\.k/);
    // 10,000 levels: refused at the limit, no stack overflow.
    expect(() => checkBodyValue(nest(10_000, 1))).toThrow(/levels deep at k\.k/);
  });

  it('refuses a __proto__ key, parsed from JSON, wherever it is', () => {
    expect(() => checkBodyValue(JSON.parse('{"__proto__": {"x": 1}}'))).toThrow(
      /the key "__proto__" at __proto__, which is not allowed/,
    );
    expect(() => checkBodyValue(JSON.parse('{"Job": {"Meta": [{"__proto__": 1}]}}'))).toThrow(
      /the key "__proto__" at Job\.Meta\[0\]\.__proto__,/,
    );
  });
});
