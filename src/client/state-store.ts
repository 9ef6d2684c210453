/**
 * The client's durable state in its data dir, so that an agent restart adopts its tasks instead of starting them
 * again. One JSON file per allocation (`client/allocs/<allocID>.json`: the allocation, and per task its state,
 * driver handle and restart counters).
 *
 * Writes are asynchronous and coalesced, off the event loop: every task state change used to be a synchronous
 * write-and-rename, and on a slow disk those pauses queued every HTTP request behind them.
 *
 *   saveAlloc(p) / deleteAlloc(id) ──► pending[allocID] = latest (a newer save replaces an unwritten one)
 *        └─► next tick: one flush cycle takes everything pending ──► per alloc, in parallel:
 *              write <id>.json.tmp ──► rename over <id>.json        (or unlink for a delete)
 *        changes made while a cycle runs wait for the next cycle, so one alloc never has two writes in flight
 *   flush() resolves once everything saved before it is on disk; the agent awaits it on shutdown.
 *
 * Crash safety: the rename is atomic, so a process killed mid-write leaves the previous complete file (and a
 * stray `.tmp`, ignored and removed on load). As before, the file is not fsynced: a process crash loses nothing
 * that reached write(2), and ext4 (auto_da_alloc) orders the data of a replace-by-rename before the rename.
 * What an asynchronous write does lose is the last change made less than a cycle (≈ a millisecond) before a
 * SIGKILL; the state written before it is intact and is what the restarted agent adopts. The one change that
 * must not be lost that way, a new driver handle (a task just started: without it on disk a restarted agent
 * would start the task a second time), goes through `saveAllocNow`, synchronously, as every save used to.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { allocIDProblem, type Allocation } from '../structs/index.js';
import { DroverError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import type { PersistedTaskState } from './task-runner.js';

export interface PersistedAlloc {
  alloc: Allocation;
  tasks: Record<string, PersistedTaskState>;
  /** Unix ms when the allocation became terminal on this client (for GC). */
  terminalAt?: number;
}

/** The file operations the store uses; tests replace them to simulate a crash in the middle of a write. */
export interface StateStoreFS {
  writeFile(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
}

const nodeFS: StateStoreFS = {
  writeFile: (path, data) => writeFile(path, data),
  rename: (from, to) => rename(from, to),
  remove: (path) => rm(path, { force: true }),
};

export interface ClientStateStoreOptions {
  logger?: Logger;
  fs?: StateStoreFS;
}

/** A pending change: the latest state to write, or null to delete the file. */
type Change = PersistedAlloc | null;

export class ClientStateStore {
  private readonly dir: string;
  private readonly fs: StateStoreFS;
  private readonly log: Logger | undefined;
  private pending = new Map<string, Change>();
  /** Allocations the running cycle is writing. */
  private writing = new Set<string>();
  /** The running flush cycle, if any; a new cycle starts only after it. */
  private cycle: Promise<void> | undefined;
  private scheduled = false;

  constructor(dataDir: string, opts: ClientStateStoreOptions = {}) {
    this.dir = join(dataDir, 'client', 'allocs');
    this.fs = opts.fs ?? nodeFS;
    this.log = opts.logger;
    mkdirSync(this.dir, { recursive: true });
  }

  /** Records the allocation's latest state; written on the next cycle (a newer save before then replaces it). */
  saveAlloc(p: PersistedAlloc): void {
    this.pending.set(p.alloc.ID, p);
    this.schedule();
  }

  /**
   * Writes the allocation's state before returning (a new driver handle). A queued asynchronous write of it holds
   * an older state and is dropped (this write has the latest); one already in flight may land after this one, so
   * the latest is queued again to land after it.
   */
  saveAllocNow(p: PersistedAlloc): void {
    const id = p.alloc.ID;
    const file = this.fileOf(id);
    const tmp = `${file}.now.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(p));
      renameSync(tmp, file);
    } catch (e) {
      this.log?.warn('cannot persist allocation state', { alloc_id: id, err: String(e) });
    }
    if (this.writing.has(id) || this.pending.get(id) === null) this.saveAlloc(p);
    else this.pending.delete(id);
  }

  /** Removes the allocation's state, after any write of it already in flight. */
  deleteAlloc(allocID: string): void {
    this.pending.set(allocID, null);
    this.schedule();
  }

  /** Resolves once every change made before the call is on disk (write failures are logged, not thrown). */
  async flush(): Promise<void> {
    while (this.cycle !== undefined || this.pending.size > 0) {
      if (this.cycle === undefined) this.startCycle();
      await this.cycle;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.cycle !== undefined) return;
    this.scheduled = true;
    // One tick of grace gathers the burst of changes a single event causes (task state, then alloc status).
    setImmediate(() => {
      this.scheduled = false;
      if (this.cycle === undefined && this.pending.size > 0) this.startCycle();
    });
  }

  private startCycle(): void {
    const batch = this.pending;
    this.pending = new Map();
    this.writing = new Set(batch.keys());
    this.cycle = Promise.all([...batch].map(([id, change]) => this.apply(id, change))).then(() => {
      this.cycle = undefined;
      this.writing = new Set();
      if (this.pending.size > 0) this.schedule();
    });
  }

  /** The state file of an allocation; its ID comes from the servers, so it must be a plain token. */
  private fileOf(allocID: string): string {
    const bad = allocIDProblem(allocID);
    if (bad) throw new DroverError('BadRequest', bad);
    return join(this.dir, `${allocID}.json`);
  }

  private async apply(allocID: string, change: Change): Promise<void> {
    const file = this.fileOf(allocID);
    try {
      if (change === null) {
        await this.fs.remove(file);
        return;
      }
      const tmp = `${file}.tmp`;
      await this.fs.writeFile(tmp, JSON.stringify(change));
      await this.fs.rename(tmp, file);
    } catch (e) {
      this.log?.warn('cannot persist allocation state', { alloc_id: allocID, err: String(e) });
    }
  }

  /**
   * Every persisted allocation; unreadable files are skipped and reported through `onError`. Runs at start-up,
   * before any write: the temp files of a write interrupted by a crash are removed here.
   */
  loadAllocs(onError: (file: string, err: unknown) => void = () => {}): PersistedAlloc[] {
    const out: PersistedAlloc[] = [];
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith('.tmp')) {
        if (this.cycle === undefined) rmSync(join(this.dir, name), { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as PersistedAlloc);
      } catch (e) {
        onError(name, e);
      }
    }
    return out;
  }
}
