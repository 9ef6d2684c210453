import { describe, expect, it } from 'vitest';
import { TOKEN_KEY, withToken } from './token.js';

const memory = () => {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
};

describe('the UI token', () => {
  it('adds the stored token as X-Nomad-Token and nothing when none is stored', () => {
    const s = memory();
    expect(withToken(s, { method: 'GET', headers: { accept: 'application/json' } })).toEqual({
      method: 'GET',
      headers: { accept: 'application/json' },
    });
    s.setItem(TOKEN_KEY, 'secret-1');
    expect(withToken(s, { method: 'GET', headers: { accept: 'application/json' } })).toEqual({
      method: 'GET',
      headers: { accept: 'application/json', 'X-Nomad-Token': 'secret-1' },
    });
  });
});
