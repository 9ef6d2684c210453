/**
 * An allocation's files, as Nomad's `/v1/client/fs/{ls,stat,cat,readat,stream}/:alloc?path=`. `path` is relative
 * to the allocation directory (`/` is its root, as Nomad's): `/alloc/logs`, `/web/local/config.yml`.
 *
 * Confinement, checked before any file is opened:
 *   path ─► NUL or a `..` that climbs above the root ─► 400
 *        ─► the task's secrets/ directory ─► 403, as Nomad's "Reading secret file prohibited"
 *        ─► realpath (every symlink resolved) outside the allocation directory's realpath ─► 400
 *        ─► missing ─► 404
 * A symlink inside the directory that points inside it is followed; `ls` lists links without following them.
 */
import { createReadStream, type Stats } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { badRequest, DroverError, notFound } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import { HANDLED } from '../reply.js';
import { boolParam } from '../query.js';
import type { HttpApiOptions } from '../types.js';
import { allocTarget, forwardToClient } from './client-forward.js';
import type { AllocFileInfo } from '../../structs/index.js';

/** Largest `cat` answer; larger files are read with readat or stream. */
const MAX_CAT_BYTES = 64 * 1024 * 1024;
/** How often a followed file is checked for new bytes, and the heartbeat of an idle stream. */
const FOLLOW_POLL_MS = 250;
const HEARTBEAT_MS = 10_000;

/** Go's os.FileMode String (`drwxr-xr-x`, `-rw-r--r--`, `Lrwxrwxrwx`). */
function fileMode(s: Stats): string {
  const kind = s.isDirectory()
    ? 'd'
    : s.isSymbolicLink()
      ? 'L'
      : s.isFIFO()
        ? 'p'
        : s.isSocket()
          ? 'S'
          : s.isCharacterDevice()
            ? 'c'
            : s.isBlockDevice()
              ? 'D'
              : '-';
  const rwx = 'rwxrwxrwx';
  let out = '';
  for (let i = 0; i < 9; i++) out += s.mode & (1 << (8 - i)) ? rwx[i] : '-';
  return kind + out;
}

function info(name: string, s: Stats): AllocFileInfo {
  return {
    Name: name,
    IsDir: s.isDirectory(),
    Size: s.size,
    FileMode: fileMode(s),
    ModTime: s.mtime.toISOString(),
    ContentType: s.isDirectory() ? '' : 'application/octet-stream',
  };
}

const isSecret = (parts: string[]) => parts.length >= 2 && parts[1] === 'secrets' && parts[0] !== 'alloc';

/**
 * The host path of `rel` inside `root`, or an error naming why it is refused. The cleaned path is returned too,
 * for messages.
 */
export async function confinedPath(root: string, rel: string): Promise<{ host: string; clean: string }> {
  if (rel.includes('\0')) throw badRequest('path contains a NUL byte');
  const parts: string[] = [];
  for (const seg of rel.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) throw badRequest(`path "${rel}" escapes the allocation directory`);
      parts.pop();
    } else parts.push(seg);
  }
  const clean = '/' + parts.join('/');
  // <task>/secrets holds the task's tokens: never served (Nomad: "Reading secret file prohibited").
  if (isSecret(parts)) throw new DroverError('PermissionDenied', `Reading secret file prohibited: ${clean}`);
  const rootReal = await realpath(root).catch(() => {
    throw notFound(`allocation directory`);
  });
  const host = join(rootReal, ...parts);
  let real: string;
  try {
    real = await realpath(host);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      // A dangling link may still point outside: say so rather than "not found".
      const l = await lstat(host).catch(() => undefined);
      if (l?.isSymbolicLink())
        throw badRequest(`path "${clean}" is a symlink that leads nowhere inside the allocation directory`);
      throw notFound(`file "${clean}"`);
    }
    throw badRequest(`path "${clean}": ${(e as Error).message}`);
  }
  if (real !== rootReal && !real.startsWith(rootReal + sep))
    throw badRequest(`path "${clean}" leads outside the allocation directory`);
  // A link inside the directory must not reach a secrets/ directory either.
  const realParts = real.slice(rootReal.length).split(sep).filter(Boolean);
  if (isSecret(realParts)) throw new DroverError('PermissionDenied', `Reading secret file prohibited: ${clean}`);
  return { host: real, clean };
}

function pathParam(c: RequestContext): string {
  return c.query.get('path') ?? '/';
}

function intParam(c: RequestContext, name: string, dflt: number): number {
  const v = c.query.get(name);
  if (v === null || v === '') return dflt;
  if (!/^-?\d{1,15}$/.test(v)) throw badRequest(`invalid ${name} "${v}": expected an integer`);
  return Number(v);
}

export function clientFsRoutes(r: Router, opts: HttpApiOptions): void {
  const resolveAlloc = (id: string) => (opts.server ? opts.server.resolvePrefix('alloc', id) : id);

  /** Runs `local` with the allocation's directory when this agent runs it, else forwards the request. */
  const fs = (local: (c: RequestContext, root: string) => Promise<unknown>) => async (c: RequestContext) => {
    const allocID = resolveAlloc(c.params.alloc!);
    const target = await allocTarget(c, opts, allocID);
    if (target.kind === 'remote') return forwardToClient(c, target, { param: c.params.alloc!, allocID });
    if (!opts.client) throw new DroverError('Unavailable', 'this agent does not run a client');
    const root = opts.client.allocDir?.(allocID);
    if (root === undefined)
      throw new DroverError('AllocNotFound', `allocation "${allocID}" is not running on this client`);
    return local(c, root);
  };

  r.get(
    '/v1/client/fs/ls/:alloc',
    fs(async (c, root) => {
      const { host, clean } = await confinedPath(root, pathParam(c));
      const s = await stat(host);
      if (!s.isDirectory()) throw badRequest(`path "${clean}" is not a directory`);
      const names = (await readdir(host)).sort();
      const out: AllocFileInfo[] = [];
      for (const n of names) {
        const l = await lstat(join(host, n)).catch(() => undefined);
        if (l) out.push(info(n, l));
      }
      return out;
    }),
  );

  r.get(
    '/v1/client/fs/stat/:alloc',
    fs(async (c, root) => {
      const { host, clean } = await confinedPath(root, pathParam(c));
      return info(clean === '/' ? '/' : clean.slice(clean.lastIndexOf('/') + 1), await stat(host));
    }),
  );

  const sendRange = async (c: RequestContext, host: string, clean: string, offset: number, limit: number) => {
    const s = await stat(host);
    if (s.isDirectory()) throw badRequest(`path "${clean}" is a directory`);
    const start = Math.min(offset, s.size);
    const end = limit < 0 ? s.size : Math.min(s.size, start + limit);
    if (end - start > MAX_CAT_BYTES)
      throw badRequest(`file "${clean}" is ${end - start} bytes: read it with readat (offset, limit) or stream`);
    c.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': end - start });
    if (end === start) {
      c.res.end();
      return HANDLED;
    }
    const rs = createReadStream(host, { start, end: end - 1, signal: c.signal });
    await new Promise<void>((resolve) => {
      rs.on('error', () => {
        c.res.destroy();
        resolve();
      });
      rs.on('end', resolve);
      rs.pipe(c.res);
    });
    return HANDLED;
  };

  r.get(
    '/v1/client/fs/cat/:alloc',
    fs(async (c, root) => {
      const { host, clean } = await confinedPath(root, pathParam(c));
      return sendRange(c, host, clean, 0, -1);
    }),
  );

  r.get(
    '/v1/client/fs/readat/:alloc',
    fs(async (c, root) => {
      const offset = intParam(c, 'offset', 0);
      const limit = intParam(c, 'limit', -1);
      if (offset < 0) throw badRequest(`invalid offset "${offset}": expected a non-negative integer`);
      const { host, clean } = await confinedPath(root, pathParam(c));
      return sendRange(c, host, clean, offset, limit);
    }),
  );

  r.get(
    '/v1/client/fs/stream/:alloc',
    fs(async (c, root) => {
      const origin = c.query.get('origin') ?? 'start';
      if (origin !== 'start' && origin !== 'end') throw badRequest(`invalid origin "${origin}": expected start or end`);
      const offsetArg = intParam(c, 'offset', 0);
      if (offsetArg < 0) throw badRequest(`invalid offset "${offsetArg}": expected a non-negative integer`);
      const follow = c.query.get('follow') === null ? true : boolParam(c.query, 'follow');
      const plain = boolParam(c.query, 'plain');
      const { host, clean } = await confinedPath(root, pathParam(c));
      const s = await stat(host);
      if (s.isDirectory()) throw badRequest(`path "${clean}" is a directory`);
      let pos = origin === 'end' ? Math.max(0, s.size - offsetArg) : Math.min(offsetArg, s.size);
      c.res.writeHead(200, { 'Content-Type': plain ? 'text/plain; charset=utf-8' : 'application/json' });
      const fh = await open(host, 'r');
      const buf = Buffer.alloc(64 * 1024);
      let lastWrite = Date.now();
      try {
        while (!c.signal.aborted) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead > 0) {
            const chunk = buf.subarray(0, bytesRead);
            pos += bytesRead;
            c.res.write(
              plain
                ? chunk
                : JSON.stringify({ Offset: pos, Data: chunk.toString('base64'), File: clean.slice(1), FileEvent: '' }),
            );
            lastWrite = Date.now();
            continue;
          }
          if (!follow) break;
          // Truncated underneath us (a rotated log): start again from its new end, as Nomad's "file truncated" event.
          const now = await fh.stat();
          if (now.size < pos) {
            pos = now.size;
            if (!plain)
              c.res.write(JSON.stringify({ Offset: pos, Data: '', File: clean.slice(1), FileEvent: 'file truncated' }));
          }
          if (!plain && Date.now() - lastWrite >= HEARTBEAT_MS) {
            c.res.write('{}');
            lastWrite = Date.now();
          }
          await sleep(FOLLOW_POLL_MS, undefined, { signal: c.signal }).catch(() => undefined);
        }
      } finally {
        await fh.close();
        c.res.end();
      }
      return HANDLED;
    }),
  );

  r.get('/v1/client/stats', () => {
    if (!opts.client?.hostStats) throw new DroverError('Unavailable', 'this agent does not run a client');
    return opts.client.hostStats();
  });
}
