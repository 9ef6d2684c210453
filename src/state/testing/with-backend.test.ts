import { describe, expect, it } from 'vitest';
import { withBackend } from './with-backend.js';

/** A backend that only counts its closes, and fails them when told to. */
const fake = (closeFails = false) => {
  const b = {
    closes: 0,
    async close() {
      b.closes++;
      if (closeFails) throw new Error('close failed');
    },
  };
  return b;
};

describe('withBackend', () => {
  it('hands back what the callback returns and closes the backend once', async () => {
    const b = fake();
    await expect(withBackend(b, async (x) => (x === b ? 'same' : 'other'))).resolves.toBe('same');
    expect(b.closes).toBe(1);
  });

  it('closes the backend when the callback throws, and reports the callback error, not the close error', async () => {
    const b = fake(true);
    await expect(
      withBackend(b, () => {
        throw new Error('assertion failed');
      }),
    ).rejects.toThrow('assertion failed');
    expect(b.closes).toBe(1);
  });

  it('fails when the close fails after the callback succeeded', async () => {
    const b = fake(true);
    await expect(withBackend(b, () => 1)).rejects.toThrow('close failed');
    expect(b.closes).toBe(1);
  });
});
