import { describe, expect, it } from 'vitest';
import { applyList, listParams } from './list.js';
import { boolParam, queryOptions } from './query.js';

const q = (s: string) => new URLSearchParams(s);
const items = ['a', 'b', 'c', 'd', 'e'].map((ID, i) => ({ ID, N: i }));
const ids = (xs: Array<{ ID: string }>) => xs.map((x) => x.ID);
const key = (t: { ID: string }) => t.ID;
const noSignal = { signal: new AbortController().signal };

describe('list parameters', () => {
  it('pages with per_page and resumes from next_token', () => {
    const p1 = applyList(items, listParams(q('per_page=2')), key);
    expect(ids(p1.page)).toEqual(['a', 'b']);
    expect(p1.next).toBe('c');
    const p2 = applyList(items, listParams(q(`per_page=2&next_token=${p1.next}`)), key);
    expect(ids(p2.page)).toEqual(['c', 'd']);
    const p3 = applyList(items, listParams(q(`per_page=2&next_token=${p2.next}`)), key);
    expect(ids(p3.page)).toEqual(['e']);
    expect(p3.next).toBeUndefined();
  });

  it('resumes past a token whose element is gone', () => {
    expect(ids(applyList(items, listParams(q('next_token=bb')), key).page)).toEqual(['c', 'd', 'e']);
    expect(ids(applyList(items, listParams(q('next_token=bb&reverse=true')), key).page)).toEqual(['b', 'a']);
  });

  it('filters before it reverses and pages', () => {
    const r = applyList(items, listParams(q('filter=N != 0&reverse=True&per_page=2')), key);
    expect(ids(r.page)).toEqual(['e', 'd']);
    expect(r.next).toBe('c');
  });

  it('refuses a bad per_page, reverse or filter with a message naming it', () => {
    expect(() => listParams(q('per_page=-1'))).toThrow(/per_page/);
    expect(() => listParams(q('per_page=ten'))).toThrow(/per_page/);
    expect(() => listParams(q('reverse=yes'))).toThrow(/reverse/);
    expect(() => listParams(q('filter=ID ==='))).toThrow(/filter expression/);
  });
});

describe('common query values', () => {
  it('reads booleans as Go strconv.ParseBool does', () => {
    for (const v of ['1', 't', 'T', 'TRUE', 'true', 'True', '']) expect(boolParam(q(`purge=${v}`), 'purge')).toBe(true);
    for (const v of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(boolParam(q(`purge=${v}`), 'purge')).toBe(false);
    for (const v of ['yes', 'tRUE', '2', 'on']) expect(() => boolParam(q(`purge=${v}`), 'purge')).toThrow(/"purge"/);
  });

  it('refuses a bad index, wait or stale', () => {
    expect(() => queryOptions(q('index=-3'), noSignal)).toThrow(/index/);
    expect(() => queryOptions(q('index=1e3'), noSignal)).toThrow(/index/);
    expect(() => queryOptions(q('wait=forever'), noSignal)).toThrow(/wait/);
    expect(() => queryOptions(q('stale=maybe'), noSignal)).toThrow(/stale/);
    expect(queryOptions(q('index=5&wait=2s&stale'), noSignal)).toMatchObject({ minIndex: 5, waitMs: 2000 });
  });
});
