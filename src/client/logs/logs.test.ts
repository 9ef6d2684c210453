import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogRotator, logIndexes, readLogFiles } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'drover-logs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function readAll(dir: string, base: string, o: Parameters<typeof readLogFiles>[2] = {}): Promise<string> {
  let s = '';
  for await (const c of readLogFiles(dir, base, o)) s += c.toString();
  return s;
}

describe('log rotation', () => {
  it('keeps Nomad file names, the newest index as the live file, and at most MaxFiles files', async () => {
    const dir = mkdtempSync(join(root, 'a-'));
    const r = new LogRotator({ dir, base: 'web.stdout', maxFiles: 3, maxBytes: 10 });
    r.init();
    let all = '';
    for (let i = 0; i < 6; i++) {
      const line = `line-${i}-xx\n`;
      appendFileSync(r.live, line);
      all += line;
      expect(r.check()).toBe(true);
    }
    expect(logIndexes(dir, 'web.stdout')).toEqual([4, 5, 6]);
    expect(readFileSync(join(dir, 'web.stdout.6'), 'utf8')).toBe('');
    appendFileSync(r.live, 'tail\n');
    expect(readFileSync(join(dir, 'web.stdout.6'), 'utf8')).toBe('tail\n');
    expect(await readAll(dir, 'web.stdout')).toBe(`${all.split('\n').slice(4).join('\n')}tail\n`);
    expect(await readAll(dir, 'web.stdout', { origin: 'end', offset: 5 })).toBe('tail\n');
    expect(await readAll(dir, 'web.stdout', { origin: 'start', offset: 12 })).toBe('ne-5-xx\ntail\n');
  });

  it('continues in a new index after a restart found the newest file already rotated', () => {
    const dir = mkdtempSync(join(root, 'b-'));
    const r = new LogRotator({ dir, base: 'web.stderr', maxFiles: 5, maxBytes: 100 });
    r.init();
    appendFileSync(r.live, 'before\n');
    new LogRotator({ dir, base: 'web.stderr', maxFiles: 5, maxBytes: 100 }).init();
    expect(logIndexes(dir, 'web.stderr')).toEqual([0]);
    rmSync(join(dir, 'web.stderr.0'));
    appendFileSync(join(dir, 'web.stderr.0'), 'copy\n');
    new LogRotator({ dir, base: 'web.stderr', maxFiles: 5, maxBytes: 100 }).init();
    expect(logIndexes(dir, 'web.stderr')).toEqual([0, 1]);
    expect(existsSync(join(dir, '.web.stderr.live'))).toBe(true);
  });

  it('follows a log across rotations without losing or repeating bytes', async () => {
    const dir = mkdtempSync(join(root, 'c-'));
    const r = new LogRotator({ dir, base: 't.stdout', maxFiles: 50, maxBytes: 64 });
    r.init();
    const ac = new AbortController();
    let got = '';
    const reading = (async () => {
      for await (const c of readLogFiles(dir, 't.stdout', { follow: true, signal: ac.signal, pollMs: 5 }))
        got += c.toString();
    })();
    let want = '';
    for (let i = 0; i < 100; i++) {
      const line = `${i}\n`;
      appendFileSync(r.live, line);
      want += line;
      if (i % 7 === 0) r.check();
      // Pauses let the follower read between writes and rotations, as it would against a live task.
      if (i % 10 === 0) await new Promise((res) => setTimeout(res, 3));
    }
    r.check();
    await expect.poll(() => got.length, { timeout: 3_000 }).toBeGreaterThanOrEqual(want.length);
    ac.abort();
    await reading;
    expect(got).toBe(want);
    expect(logIndexes(dir, 't.stdout').length).toBeGreaterThan(3);
  });
});
