/**
 * Log rotation with Nomad's file names: `alloc/logs/<task>.stdout.N`, the highest N being the newest, at most
 * MaxFiles of them, each up to MaxFileSizeMB.
 *
 * Tasks must outlive the agent (SIGKILL, upgrade), so their stdout never goes through the agent: the driver
 * appends (O_APPEND) to a fixed "live" file `alloc/logs/.<task>.stdout.live`, and the newest numbered file is a
 * hard link to that live file. Rotation is copy-truncate, done by the agent whenever it runs:
 *
 *   live ≥ max size ─► copy live to <task>.stdout.N.tmp (catching up while it grows) ─► truncate live
 *     ─► rename .tmp over <task>.stdout.N (the link becomes a plain copy) ─► link live as <task>.stdout.N+1
 *     ─► delete indexes ≤ N+1-MaxFiles
 *
 * Why not rename the live file or tell a detached logger: a rename would leave the task writing into an old
 * index, and a logger process would have to be recovered like a task. The cost of copy-truncate is the usual one:
 * bytes written between the last copy and the truncate (microseconds) are lost. While the agent is down the live
 * file grows past the limit and is rotated when the agent is back.
 */
import {
  closeSync,
  copyFileSync,
  fstatSync,
  linkSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface LogRotatorOptions {
  dir: string;
  /** `<task>.stdout` or `<task>.stderr`. */
  base: string;
  maxFiles: number;
  maxBytes: number;
}

export function livePath(dir: string, base: string): string {
  return join(dir, `.${base}.live`);
}

/** The numbered files of `base` in `dir`, oldest first. */
export function logIndexes(dir: string, base: string): number[] {
  const prefix = `${base}.`;
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  for (const n of names)
    if (n.startsWith(prefix) && /^\d+$/.test(n.slice(prefix.length))) out.push(Number(n.slice(prefix.length)));
  return out.sort((a, b) => a - b);
}

export class LogRotator {
  readonly live: string;
  private index = 0;

  constructor(private readonly options: LogRotatorOptions) {
    this.live = livePath(options.dir, options.base);
  }

  private numbered(i: number): string {
    return join(this.options.dir, `${this.options.base}.${i}`);
  }

  /**
   * Creates the live file and links the newest index to it (idempotent; also after an agent restart). A task's
   * first start (no numbered file yet, the common case) only opens and links: no stat, and no thrown ENOENT.
   */
  init(): void {
    const fd = openSync(this.live, 'a');
    const idx = logIndexes(this.options.dir, this.options.base);
    this.index = idx[idx.length - 1] ?? 0;
    let cur: number | undefined;
    try {
      if (idx.length === 0) {
        linkSync(this.live, this.numbered(this.index));
        return;
      }
      cur = statSync(this.numbered(this.index), { throwIfNoEntry: false })?.ino;
      if (cur === fstatSync(fd).ino) return;
    } finally {
      closeSync(fd);
    }
    // A crash between truncate and link left the newest index as a plain file: continue in the next one.
    if (cur !== undefined) this.index++;
    linkSync(this.live, this.numbered(this.index));
  }

  /** Rotates when the live file reached the size limit. Returns true when it rotated. */
  check(): boolean {
    let size: number;
    try {
      size = statSync(this.live).size;
    } catch {
      return false;
    }
    if (size < this.options.maxBytes) return false;
    this.rotate();
    return true;
  }

  private rotate(): void {
    const tmp = `${this.numbered(this.index)}.tmp`;
    copyFileSync(this.live, tmp);
    appendGrowth(this.live, tmp);
    truncateSync(this.live, 0);
    renameSync(tmp, this.numbered(this.index));
    this.index++;
    linkSync(this.live, this.numbered(this.index));
    for (const i of logIndexes(this.options.dir, this.options.base))
      if (i <= this.index - this.options.maxFiles) rmSync(this.numbered(i), { force: true });
  }
}

/** Appends to `dst` what was written to `src` after it was copied, a few rounds at most. */
function appendGrowth(src: string, dst: string): void {
  const buf = Buffer.alloc(64 * 1024);
  for (let round = 0; round < 5; round++) {
    const have = statSync(dst).size;
    if (statSync(src).size <= have) return;
    const fi = openSync(src, 'r');
    const fo = openSync(dst, 'a');
    try {
      let pos = have;
      for (let n = readSync(fi, buf, 0, buf.length, pos); n > 0; n = readSync(fi, buf, 0, buf.length, pos)) {
        writeSync(fo, buf, 0, n);
        pos += n;
      }
    } finally {
      closeSync(fi);
      closeSync(fo);
    }
  }
}
