/**
 * Allocation name indexes: `<job>.<group>[i]`. New placements take the lowest free index, so a
 * freed index (a stopped or lost alloc) is reused before the group grows past its count.
 */
import { allocIndex, allocName } from '../../structs/index.js';

export class NameIndex {
  private readonly used = new Set<number>();

  constructor(
    private readonly jobID: string,
    private readonly group: string,
    private readonly count: number,
  ) {}

  markUsed(name: string): void {
    const i = allocIndex(name);
    if (i >= 0) this.used.add(i);
  }

  /** The next `n` free names: lowest indexes below count first, then beyond it. */
  next(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) {
      if (this.used.has(i)) continue;
      this.used.add(i);
      out.push(allocName(this.jobID, this.group, i));
      if (i > this.count + n + this.used.size + 1) break;
    }
    return out;
  }
}

/** Sorts allocations by name index, highest first (the order in which excess allocs are stopped). */
export function byIndexDesc<T extends { Name: string }>(a: T, b: T): number {
  return allocIndex(b.Name) - allocIndex(a.Name);
}

export function byIndexAsc<T extends { Name: string }>(a: T, b: T): number {
  return allocIndex(a.Name) - allocIndex(b.Name);
}
