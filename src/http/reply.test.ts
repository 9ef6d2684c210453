import { describe, expect, it } from 'vitest';
import { encodeJson } from './reply.js';

describe('encodeJson', () => {
  it('encodes lists of frozen, unfrozen and primitive elements exactly as JSON.stringify does', () => {
    const frozen = Array.from({ length: 10 }, (_, i) =>
      Object.freeze({ ID: `a${i}`, Tasks: { t: { State: 'running' } }, Gone: undefined }),
    );
    const mixed = [...frozen, { ID: 'plain' }, null, 3, 'x', undefined];
    expect(encodeJson(mixed).toString()).toBe(JSON.stringify(mixed));
    expect(encodeJson(frozen.slice(0, 3)).toString()).toBe(JSON.stringify(frozen.slice(0, 3)));
    expect(encodeJson({ a: 1 }).toString()).toBe('{"a":1}');
    expect(encodeJson(undefined).toString()).toBe('null');
    expect(encodeJson([]).toString()).toBe('[]');
  });

  it('serialises a frozen list element once, however often the list is answered', () => {
    let calls = 0;
    const el = (i: number) =>
      Object.freeze({
        toJSON() {
          calls++;
          return { ID: i };
        },
      });
    const list = Array.from({ length: 20 }, (_, i) => el(i));
    const first = encodeJson(list).toString();
    const second = encodeJson([...list].reverse()).toString();
    expect(calls).toBe(20);
    expect(JSON.parse(first)).toEqual(list.map((_, i) => ({ ID: i })));
    expect(JSON.parse(second)[0]).toEqual({ ID: 19 });
  });
});

describe('encodeJson of a frozen list', () => {
  it('encodes a frozen list once and answers later requests with the same bytes', () => {
    let calls = 0;
    const el = Object.freeze({
      toJSON() {
        calls++;
        return 1;
      },
    });
    const list = Object.freeze([el, { plain: true }]);
    const a = encodeJson(list);
    const b = encodeJson(list);
    expect(b).toBe(a);
    expect(a.toString()).toBe('[1,{"plain":true}]');
    expect(calls).toBe(1);
  });
});
