/**
 * Calls to the runc binary. Every call is bounded by a timeout; `runc events --stats` is the only one whose
 * output we parse (JSON, the same shape on cgroups v1 and v2).
 */
import { execFile } from 'node:child_process';

export interface RuncResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class Runc {
  constructor(
    readonly binary: string,
    /** runc's state dir (`--root`): our containers only, so a listing never shows Docker's. */
    readonly root: string,
  ) {}

  run(args: string[], timeoutMs = 30_000, signal?: AbortSignal): Promise<RuncResult> {
    return new Promise((resolve, reject) => {
      execFile(
        this.binary,
        ['--root', this.root, ...args],
        { timeout: timeoutMs, signal, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err && typeof err.code !== 'number') return reject(err);
          resolve({ stdout, stderr, code: err ? Number(err.code) : 0 });
        },
      );
    });
  }

  /** `runc state`: undefined when runc does not know the container. */
  async state(id: string): Promise<{ status: string; pid: number } | undefined> {
    const r = await this.run(['state', id]);
    if (r.code !== 0) return undefined;
    const s = JSON.parse(r.stdout) as { status: string; pid: number };
    return { status: s.status, pid: s.pid };
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    const r = await this.run(['kill', ...(all ? ['--all'] : []), id, signal]);
    // "container not running" / "not exist": it is already gone, which is what a kill wants.
    if (r.code !== 0 && !/not running|does not exist|not exist|process already finished/i.test(r.stderr)) {
      throw new Error(`runc kill ${id} ${signal}: ${r.stderr.trim()}`);
    }
  }

  async delete(id: string): Promise<void> {
    const r = await this.run(['delete', '--force', id]);
    if (r.code !== 0 && !/does not exist|not exist/i.test(r.stderr))
      throw new Error(`runc delete ${id}: ${r.stderr.trim()}`);
  }

  async stats(id: string): Promise<RuncStats> {
    const r = await this.run(['events', '--stats', id], 10_000);
    if (r.code !== 0) throw new Error(`runc events --stats ${id}: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout) as { data: RuncStats }).data;
  }
}

export interface RuncStats {
  cpu?: {
    usage?: { total?: number; kernel?: number; user?: number };
    throttling?: { periods?: number; throttledPeriods?: number; throttledTime?: number };
  };
  memory?: {
    cache?: number;
    usage?: { usage?: number; max?: number; failcnt?: number };
    swap?: { usage?: number };
    kernel?: { usage?: number };
    raw?: Record<string, number>;
  };
}
