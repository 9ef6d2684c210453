/**
 * Copies a container's stdout/stderr into the client's log files, through `GET /containers/:id/logs?follow`
 * with timestamps. The last timestamp written is kept in a cursor file in the task dir (not mounted into the
 * container), updated after every chunk, so that a new agent (even after a SIGKILL) resumes with `since` = that
 * time instead of copying lines again.
 *
 *   start(since) ──► follow stream ──frame──► strip timestamp ──► append to stdout/stderr file, remember ts
 *                        └── ends when the container stops (or on abort) ──► flush cursor ──► done
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Logger } from '../../logging/index.js';
import { type DockerClient, StreamDemuxer } from './api.js';

export interface LogCopierOptions {
  client: DockerClient;
  containerID: string;
  stdoutPath: string;
  stderrPath: string;
  cursorPath: string;
  logger: Logger;
}

/** "2024-01-02T03:04:05.123456789Z" → "1704164645.123456789" (Docker's `since` format, nanosecond exact). */
export function timestampToSince(ts: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return undefined;
  const secs = Math.floor(Date.parse(`${m[1]}${m[3]}`) / 1000);
  if (!Number.isFinite(secs)) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return `${secs}.${frac}`;
}

export function readCursor(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replace(/\0/g, '').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows the container's log until it ends or `signal` aborts. Resolves in both cases; a stream error is
 * logged, since a broken log copy must not fail the task.
 */
export async function copyLogs(o: LogCopierOptions, signal: AbortSignal): Promise<void> {
  const cursor = readCursor(o.cursorPath);
  const since = cursor ? timestampToSince(cursor) : undefined;
  const fds = { 1: openSync(o.stdoutPath, 'a'), 2: openSync(o.stderrPath, 'a') } as const;
  const cursorFd = openCursor(o.cursorPath);
  let last = cursor;
  let saved = cursor;
  // After every chunk of frames, not on a timer: an agent SIGKILLed between a write and a timed save would
  // copy those lines a second time after its restart.
  const save = () => {
    if (last && last !== saved) {
      writeSync(cursorFd, last.padEnd(CURSOR_WIDTH), 0);
      saved = last;
    }
  };
  try {
    const res = await o.client.stream({
      path: `/containers/${o.containerID}/logs`,
      query: { follow: 1, stdout: 1, stderr: 1, timestamps: 1, since },
      signal,
    });
    let skipping = since !== undefined;
    const demux = new StreamDemuxer((stream, payload) => {
      const sp = payload.indexOf(0x20);
      const ts = sp > 0 ? payload.subarray(0, sp).toString('latin1') : '';
      // `since` is inclusive at second precision on some engines: drop frames at or before the cursor.
      // Normalised "secs.nanos" strings of equal width compare correctly as text; RFC 3339 ones do not.
      if (skipping && since && ts && (timestampToSince(ts) ?? '') <= since) return;
      skipping = false;
      writeSync(fds[stream], sp > 0 ? payload.subarray(sp + 1) : payload);
      if (ts) last = ts;
    });
    for await (const chunk of res.body) {
      demux.push(chunk as Buffer);
      save();
    }
  } catch (err) {
    if (!signal.aborted) o.logger.warn('container log stream failed', { container: o.containerID, err: String(err) });
  } finally {
    save();
    closeSync(cursorFd);
    closeSync(fds[1]);
    closeSync(fds[2]);
  }
}

/** Room for any RFC 3339 timestamp; the cursor is overwritten in place (one pwrite), padded with spaces. */
const CURSOR_WIDTH = 64;

/** Opens the cursor file for in-place writes without truncating it: a crash right after must not lose it. */
function openCursor(path: string): number {
  try {
    return openSync(path, 'r+');
  } catch {
    return openSync(path, 'w');
  }
}
