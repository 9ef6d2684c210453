import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nullLogger } from '../../logging/index.js';
import { type DockerClient, StreamDemuxer } from './api.js';
import { copyLogs, readCursor, timestampToSince } from './logs.js';

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

describe('container log copy', () => {
  const stamped = (ts: string, text: string) => frame(1, `${ts} ${text}`);

  it('saves its cursor with every chunk it writes, so a SIGKILLed agent resumes without copying lines twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-docker-logs-'));
    const paths = { stdoutPath: join(dir, 'out'), stderrPath: join(dir, 'err'), cursorPath: join(dir, 'cursor') };
    const ac = new AbortController();
    let release!: () => void;
    const hang = new Promise<void>((r) => (release = r));
    const body = (async function* () {
      yield stamped('2024-01-02T03:04:05.100000000Z', 'one\n');
      yield stamped('2024-01-02T03:04:05.200000000Z', 'two\n');
      await hang; // the agent dies here: no timer, no final save
    })();
    const client = { stream: async () => ({ body }) } as unknown as DockerClient;
    const copying = copyLogs({ client, containerID: 'c', ...paths, logger: nullLogger }, ac.signal);
    await expect
      .poll(() => readCursor(paths.cursorPath), { timeout: 200, interval: 10 })
      .toBe('2024-01-02T03:04:05.200000000Z');
    expect(readFileSync(paths.stdoutPath, 'utf8')).toBe('one\ntwo\n');

    // The next agent resumes from the cursor: the engine resends from the second (inclusive), and what was copied is skipped.
    let since: unknown;
    const again = (async function* () {
      yield stamped('2024-01-02T03:04:05.100000000Z', 'one\n');
      yield stamped('2024-01-02T03:04:05.200000000Z', 'two\n');
      yield stamped('2024-01-02T03:04:05.300000000Z', 'three\n');
    })();
    const client2 = {
      stream: async (o: { query: { since?: unknown } }) => ((since = o.query.since), { body: again }),
    } as unknown as DockerClient;
    await copyLogs({ client: client2, containerID: 'c', ...paths, logger: nullLogger }, new AbortController().signal);
    expect(since).toBe('1704164645.200000000');
    expect(readFileSync(paths.stdoutPath, 'utf8')).toBe('one\ntwo\nthree\n');
    expect(readCursor(paths.cursorPath)).toBe('2024-01-02T03:04:05.300000000Z');
    release();
    ac.abort();
    await copying;
    rmSync(dir, { recursive: true, force: true });
  });
});
