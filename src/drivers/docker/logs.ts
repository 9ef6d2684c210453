/**
 * Copies a container's stdout/stderr into the client's log files, through `GET /containers/:id/logs?follow`
 * with timestamps. The last timestamp written is kept in a cursor file in the task dir (not mounted into the
 * container), so that a new agent resumes with `since` = that time instead of copying the whole log again.
 *
 *   start(since) ──► follow stream ──frame──► strip timestamp ──► append to stdout/stderr file, remember ts
 *                        └── ends when the container stops (or on abort) ──► flush cursor ──► done
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
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
    return readFileSync(path, 'utf8').trim() || undefined;
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
  let last = cursor;
  let saved = cursor;
  const save = () => {
    if (last && last !== saved) {
      writeFileSync(o.cursorPath, last);
      saved = last;
    }
  };
  const timer = setInterval(save, 500);
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
    for await (const chunk of res.body) demux.push(chunk as Buffer);
  } catch (err) {
    if (!signal.aborted) o.logger.warn('container log stream failed', { container: o.containerID, err: String(err) });
  } finally {
    clearInterval(timer);
    save();
    closeSync(fds[1]);
    closeSync(fds[2]);
  }
}
