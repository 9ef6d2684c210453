import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamDemuxer } from './api.js';
import { timestampToSince } from './logs.js';

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

describe('Docker multiplexed stream demuxer', () => {
  it('yields the same frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<1 | 2>(1, 2), fc.string({ maxLength: 40 })), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const all = Buffer.concat(frames.map(([s, t]) => frame(s, t)));
          const got: Array<[number, string]> = [];
          const d = new StreamDemuxer((s, p) => got.push([s, p.toString()]));
          for (let pos = 0, i = 0; pos < all.length; i++) {
            const n = cuts[i % cuts.length]!;
            d.push(all.subarray(pos, pos + n));
            pos += n;
          }
          expect(got).toEqual(frames);
        },
      ),
    );
  });
});

describe('log cursor timestamps', () => {
  it('turns RFC 3339 timestamps into Docker’s since format with nanoseconds', () => {
    expect(timestampToSince('2024-01-02T03:04:05.123456789Z')).toBe('1704164645.123456789');
    expect(timestampToSince('2024-01-02T03:04:05.1Z')).toBe('1704164645.100000000');
    expect(timestampToSince('2024-01-02T03:04:05Z')).toBe('1704164645.000000000');
    expect(timestampToSince('garbage')).toBeUndefined();
  });

  it('orders normalised timestamps as text the way they order in time', () => {
    const a = timestampToSince('2024-01-02T03:04:05.1Z')!;
    const b = timestampToSince('2024-01-02T03:04:05.12Z')!;
    expect(a < b).toBe(true);
  });
});
