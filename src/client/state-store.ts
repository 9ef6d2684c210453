/**
 * The client's durable state in its data dir, so that an agent restart adopts its tasks instead of starting them
 * again. One JSON file per allocation (`client/allocs/<allocID>.json`: the allocation, and per task its state,
 * driver handle and restart counters), written atomically (write a temp file, then rename) and synchronously: a
 * handle must be on disk before the agent can die and forget a task it started.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Allocation } from '../structs/index.js';
import type { PersistedTaskState } from './task-runner.js';

export interface PersistedAlloc {
  alloc: Allocation;
  tasks: Record<string, PersistedTaskState>;
  /** Unix ms when the allocation became terminal on this client (for GC). */
  terminalAt?: number;
}

export class ClientStateStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'client', 'allocs');
    mkdirSync(this.dir, { recursive: true });
  }

  saveAlloc(p: PersistedAlloc): void {
    const file = join(this.dir, `${p.alloc.ID}.json`);
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(p));
    renameSync(tmp, file);
  }

  deleteAlloc(allocID: string): void {
    rmSync(join(this.dir, `${allocID}.json`), { force: true });
  }

  /** Every persisted allocation; unreadable files are skipped and reported through `onError`. */
  loadAllocs(onError: (file: string, err: unknown) => void = () => {}): PersistedAlloc[] {
    const out: PersistedAlloc[] = [];
    for (const name of readdirSync(this.dir)) {
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
