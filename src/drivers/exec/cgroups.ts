/**
 * The few cgroup facts the exec driver reads itself; runc does the writing (limits) for v1 and v2 alike.
 * v2 is a unified hierarchy at /sys/fs/cgroup (cgroup.controllers there); anything else is v1 (or hybrid,
 * where runc uses the v1 controllers).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupVersion = 1 | 2;

export function cgroupVersion(root = '/sys/fs/cgroup'): CgroupVersion {
  return existsSync(join(root, 'cgroup.controllers')) ? 2 : 1;
}

/** A "key value" per line file (memory.oom_control, memory.events, memory.stat) as numbers. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

/**
 * How many processes of this cgroup the kernel's OOM killer killed; undefined when the cgroup is gone or the
 * kernel does not count (v1 before Linux 4.13).
 */
export function oomKillCount(cgroupsPath: string, root = '/sys/fs/cgroup'): number | undefined {
  const file =
    cgroupVersion(root) === 2
      ? join(root, cgroupsPath, 'memory.events')
      : join(root, 'memory', cgroupsPath, 'memory.oom_control');
  try {
    return parseFlatKeyed(readFileSync(file, 'utf8')).oom_kill;
  } catch {
    return undefined;
  }
}
