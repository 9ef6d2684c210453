import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tarOf } from './pause.js';

const root = mkdtempSync(join(tmpdir(), 'drover-pause-tar-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the pause image build context', () => {
  it('is a tar archive that tar(1) unpacks to the same files and modes', () => {
    const data = Buffer.alloc(1500, 7);
    const archive = join(root, 'ctx.tar');
    writeFileSync(
      archive,
      tarOf([
        { name: 'Dockerfile', mode: 0o644, data: Buffer.from('FROM scratch\n') },
        { name: 'busybox', mode: 0o755, data },
      ]),
    );
    const out = join(root, 'out');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xf', archive, '-C', out]);
    expect(readFileSync(join(out, 'Dockerfile'), 'utf8')).toBe('FROM scratch\n');
    expect(readFileSync(join(out, 'busybox')).equals(data)).toBe(true);
    expect(statSync(join(out, 'busybox')).mode & 0o777).toBe(0o755);
  });
});
