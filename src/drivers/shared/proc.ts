/**
 * Reading Linux /proc: a process's start time (to recognise the same PID after an agent restart), its process
 * tree and resource usage (for stats of the whole tree, as Nomad's executor reports).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** USER_HZ and the page size are fixed at 100 and 4096 on every Linux platform Node runs on that we support. */
export const CLOCK_TICKS = 100;
export const PAGE_SIZE = 4096;

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  utime: number;
  stime: number;
  /** Clock ticks since boot. */
  startTime: number;
  rssPages: number;
}

/** Parses /proc/<pid>/stat; undefined when the process is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces or ')': split after the last ')'.
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  return {
    pid,
    state: rest[0] ?? '',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    startTime: Number(rest[19]),
    rssPages: Number(rest[21]),
  };
}

/** True when `pid` runs and is the process started at `startTime` (not a reused PID), and is not a zombie. */
export function processAlive(pid: number, startTime: number): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.startTime === startTime && st.state !== 'Z' && st.state !== 'X';
}

/** The process and all its descendants. */
export function processTree(rootPid: number): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  let root: ProcStat | undefined;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (!st) continue;
    if (st.pid === rootPid) root = st;
    const list = byParent.get(st.ppid) ?? [];
    list.push(st);
    byParent.set(st.ppid, list);
  }
  if (!root) return [];
  const out: ProcStat[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(byParent.get(p.pid) ?? []));
  }
  return out;
}

/** The processes of a process group (a task's whole tree, including orphans reparented away from it). */
export function processGroup(pgid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (st && st.pgrp === pgid && st.state !== 'Z') out.push(st);
  }
  return out;
}

export function uptimeTicks(): number {
  return Math.round(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * CLOCK_TICKS);
}

/**
 * SIGKILLs a process and every descendant. The tree is read first: a descendant in its own session (a command
 * on a terminal from `script`, a container process under `runc exec`) is not in the root's process group, and
 * is reparented away once its parent dies.
 */
export function killTree(rootPid: number): void {
  for (const p of processTree(rootPid).reverse()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * A path to the terminal a process in `rootPid`'s tree reads as its stdin, if any: `/proc/<pid>/fd/0`, which opens
 * that very device even when it belongs to a container's own devpts.
 */
export function terminalInTree(rootPid: number): string | undefined {
  for (const p of processTree(rootPid)) {
    let fd0: string;
    try {
      fd0 = readlinkSync(`/proc/${p.pid}/fd/0`);
    } catch {
      continue;
    }
    if (/^\/dev\/pts\/\d+$/.test(fd0)) return `/proc/${p.pid}/fd/0`;
  }
  return undefined;
}
