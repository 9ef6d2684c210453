import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { Allocation, Task, TaskArtifact, TaskEvent } from '../../structs/index.js';
import { DroverError } from '../../errors/index.js';
import type { TaskDriver } from '../../drivers/index.js';
import { nullLogger } from '../../logging/index.js';
import { allocDirPath, buildAllocDir, buildTaskDir, taskDirs } from '../alloc-dir.js';
import type { TaskHookContext } from '../hooks.js';
import { ArtifactHook, type ArtifactClientConfig } from './artifact-hook.js';
import { tarOf, tgzOf, zipOf } from './testing/archives.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Served {
  url: string;
  requests: Array<{ path: string; headers: IncomingHttpHeaders }>;
}

/** A file server on 127.0.0.1:0; `/missing` answers 404, `/big` claims a huge Content-Length. */
async function serve(files: Record<string, Buffer | string>): Promise<Served> {
  const requests: Served['requests'] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ path: req.url ?? '/', headers: req.headers });
    if (path === '/big') {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.end(Buffer.alloc(10 * 1024 * 1024));
      return;
    }
    const body = files[path];
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function artifact(over: Partial<TaskArtifact>): TaskArtifact {
  return { GetterSource: '', GetterMode: 'any', RelativeDest: 'local/', ...over };
}

interface Harness {
  hook: ArtifactHook;
  ctx: TaskHookContext;
  events: TaskEvent[];
  data: string;
  allocDir: string;
  taskDir: string;
}

function harness(artifacts: TaskArtifact[], limits: Partial<ArtifactClientConfig> = {}): Harness {
  const data = mkdtempSync(join(tmpdir(), 'drover-artifact-'));
  cleanups.push(() => rmSync(data, { recursive: true, force: true }));
  const alloc = { ID: 'a1', Namespace: 'default', JobID: 'art', TaskGroup: 'g' } as Allocation;
  const task = { Name: 'web', Artifacts: artifacts } as Task;
  buildAllocDir(data, alloc.ID);
  const dirs = taskDirs(data, alloc.ID, task.Name);
  buildTaskDir(dirs);
  const events: TaskEvent[] = [];
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const env = { NOMAD_TASK_NAME: 'web', VERSION: '1.2' };
  const ctx: TaskHookContext = {
    alloc,
    group: { Name: 'g' } as never,
    task,
    dirs,
    env,
    interpolation: { env },
    driver: {} as TaskDriver,
    logger: nullLogger,
    signal: abort.signal,
    emitEvent: (ev) => events.push(ev),
    restart: async () => {},
    signalTask: async () => {},
    kill: async () => {},
  };
  const allocDir = allocDirPath(data, alloc.ID);
  const hook = new ArtifactHook({ allocDir: (id) => allocDirPath(data, id), now: () => 1_000, limits }, task);
  return { hook, ctx, events, data, allocDir, taskDir: dirs.dir };
}

async function failure(h: Harness): Promise<DroverError> {
  const e = await h.hook.prestart(h.ctx).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DroverError);
  return e as DroverError;
}

/** Every path under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(prefix + e.name);
      if (e.isDirectory()) walk(join(d, e.name), prefix + e.name + '/');
    }
  };
  walk(dir, '');
  return out.sort();
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

const app = tgzOf([
  { name: 'bin/', type: 'dir' },
  { name: 'bin/run.sh', body: '#!/bin/sh\necho hi\n', mode: 0o755 },
  { name: 'README', body: 'read me' },
]);

describe('artifact hook', () => {
  it('unpacks a tar.gz fetched over http into local/ and keeps the executable bit', async () => {
    const s = await serve({ '/app.tar.gz': app });
    const h = harness([artifact({ GetterSource: `${s.url}/app.tar.gz` })]);
    await h.hook.prestart(h.ctx);
    const local = join(h.taskDir, 'local');
    expect(tree(local)).toEqual(['README', 'bin', 'bin/run.sh']);
    expect(statSync(join(local, 'bin/run.sh')).mode & 0o111).not.toBe(0);
    expect(h.events.map((e) => e.Type)).toEqual(['Downloading Artifacts']);
    expect(h.events[0]!.DisplayMessage).toBe('Client is downloading artifacts');
    // The staging directory is gone.
    expect(readdirSync(h.taskDir).filter((n) => n.startsWith('.artifact-'))).toEqual([]);
  });

  it('accepts a matching sha256 checksum given in options', async () => {
    const s = await serve({ '/app.tgz': app });
    const h = harness([
      artifact({ GetterSource: `${s.url}/app.tgz`, GetterOptions: { checksum: `sha256:${sha256(app)}` } }),
    ]);
    await h.hook.prestart(h.ctx);
    expect(existsSync(join(h.taskDir, 'local/bin/run.sh'))).toBe(true);
  });

  it('accepts md5, sha1 and sha512 checksums and one given in the URL', async () => {
    const body = 'plain text';
    const s = await serve({ '/a.txt': body });
    const digest = (algo: string): string => createHash(algo).update(body).digest('hex');
    const h = harness([
      artifact({
        GetterSource: `${s.url}/a.txt`,
        GetterOptions: { checksum: `md5:${digest('md5')}` },
        RelativeDest: 'local/m',
      }),
      artifact({
        GetterSource: `${s.url}/a.txt`,
        GetterOptions: { checksum: `sha1:${digest('sha1')}` },
        RelativeDest: 'local/s1',
      }),
      artifact({ GetterSource: `${s.url}/a.txt?checksum=sha512:${digest('sha512')}`, RelativeDest: 'local/s5' }),
    ]);
    await h.hook.prestart(h.ctx);
    for (const d of ['m', 's1', 's5']) expect(readFileSync(join(h.taskDir, 'local', d, 'a.txt'), 'utf8')).toBe(body);
    // go-getter's own parameters are not sent to the server.
    expect(s.requests.map((r) => r.path)).toEqual(['/a.txt', '/a.txt', '/a.txt']);
  });

  it('fails with a Failed Artifact Download event when the checksum does not match, writing nothing', async () => {
    const s = await serve({ '/app.tar.gz': app });
    const h = harness([
      artifact({ GetterSource: `${s.url}/app.tar.gz`, GetterOptions: { checksum: `sha256:${'0'.repeat(64)}` } }),
    ]);
    const e = await failure(h);
    expect(e.code).toBe('ArtifactDownload');
    expect(e.details.recoverable).toBe(true);
    const ev = e.details.taskEvent as TaskEvent;
    expect(ev.Type).toBe('Failed Artifact Download');
    expect(ev.DisplayMessage).toContain('checksums did not match');
    expect(ev.DisplayMessage).toContain(`got ${sha256(app)}`);
    expect(ev.DownloadError).toBe(ev.DisplayMessage);
    expect(tree(join(h.taskDir, 'local'))).toEqual([]);
  });

  it('fetches again on the next start after a failure, and not again once fetched', async () => {
    const files: Record<string, Buffer> = {};
    const s = await serve(files);
    const h = harness([artifact({ GetterSource: `${s.url}/app.tar.gz` })]);
    const e = await failure(h);
    expect((e.details.taskEvent as TaskEvent).DownloadError).toContain('bad response code: 404');
    files['/app.tar.gz'] = app;
    await h.hook.prestart(h.ctx);
    await h.hook.prestart(h.ctx);
    expect(s.requests).toHaveLength(2);
    expect(h.events.map((ev) => ev.Type)).toEqual(['Downloading Artifacts', 'Downloading Artifacts']);
  });

  it('keeps an archive as a file with archive = false', async () => {
    const s = await serve({ '/app.tar.gz': app });
    const h = harness([artifact({ GetterSource: `${s.url}/app.tar.gz`, GetterOptions: { archive: 'false' } })]);
    await h.hook.prestart(h.ctx);
    expect(readFileSync(join(h.taskDir, 'local/app.tar.gz'))).toEqual(app);
  });

  it('writes a single file to the destination in mode file, interpolating source and destination', async () => {
    const s = await serve({ '/v1.2/tool': 'tool bytes' });
    const h = harness([
      artifact({
        GetterSource: `${s.url}/v\${VERSION}/tool`,
        GetterMode: 'file',
        RelativeDest: 'local/bin/tool-${VERSION}',
      }),
    ]);
    await h.hook.prestart(h.ctx);
    expect(readFileSync(join(h.taskDir, 'local/bin/tool-1.2'), 'utf8')).toBe('tool bytes');
  });

  it('unpacks zip and gz archives, and a tar into the shared alloc dir', async () => {
    const zip = zipOf([
      { name: 'z/', type: 'dir' },
      { name: 'z/run', body: 'zip body', mode: 0o755 },
      { name: 'z/link', type: 'symlink', link: 'run' },
    ]);
    const s = await serve({
      '/a.zip': zip,
      '/notes.txt.gz': gzipSync('gz body'),
      '/data.tar': tarOf([{ name: 'shared.txt', body: 'shared' }]),
    });
    const h = harness([
      artifact({ GetterSource: `${s.url}/a.zip` }),
      artifact({ GetterSource: `${s.url}/notes.txt.gz` }),
      artifact({ GetterSource: `${s.url}/data.tar`, RelativeDest: '../alloc/data' }),
    ]);
    await h.hook.prestart(h.ctx);
    const local = join(h.taskDir, 'local');
    expect(readFileSync(join(local, 'z/run'), 'utf8')).toBe('zip body');
    expect(statSync(join(local, 'z/run')).mode & 0o100).toBe(0o100);
    expect(lstatSync(join(local, 'z/link')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(local, 'z/link'), 'utf8')).toBe('zip body');
    expect(readFileSync(join(local, 'notes.txt'), 'utf8')).toBe('gz body');
    expect(readFileSync(join(h.allocDir, 'alloc/data/shared.txt'), 'utf8')).toBe('shared');
  });

  it('sends the headers block and basic auth from the URL', async () => {
    const s = await serve({ '/f': 'x' });
    const h = harness([
      artifact({
        GetterSource: s.url.replace('http://', 'http://user:p%40ss@') + '/f',
        GetterHeaders: { 'X-Token': 'tok-${VERSION}' },
      }),
    ]);
    await h.hook.prestart(h.ctx);
    expect(s.requests[0]!.headers['x-token']).toBe('tok-1.2');
    expect(s.requests[0]!.headers.authorization).toBe('Basic ' + Buffer.from('user:p@ss').toString('base64'));
  });

  it('refuses a download larger than http_max_size', async () => {
    const s = await serve({});
    const h = harness([artifact({ GetterSource: `${s.url}/big` })], { httpMaxBytes: 1024 });
    const e = await failure(h);
    expect(e.message).toContain('http_max_size');
    expect(tree(join(h.taskDir, 'local'))).toEqual([]);
  });

  it('refuses an archive with more entries than decompression_file_count_limit', async () => {
    const many = tgzOf(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, body: 'x' })));
    const s = await serve({ '/many.tgz': many });
    const h = harness([artifact({ GetterSource: `${s.url}/many.tgz` })], { decompressionMaxFiles: 4 });
    expect((await failure(h)).message).toContain('decompression_file_count_limit');
    expect(tree(join(h.taskDir, 'local'))).toEqual([]);
  });

  it('counts the bytes of hard-linked copies against decompression_size_limit', async () => {
    const links = Array.from({ length: 8 }, (_, i) => ({ name: `h${i}`, type: 'link' as const, link: 'f' }));
    const s = await serve({ '/links.tgz': tgzOf([{ name: 'f', body: 'x'.repeat(1000) }, ...links]) });
    const h = harness([artifact({ GetterSource: `${s.url}/links.tgz` })], { decompressionMaxBytes: 4000 });
    const e = await failure(h);
    expect(e.message).toContain('decompression_size_limit');
    expect(tree(join(h.taskDir, 'local'))).toEqual([]);
    // Within the limit the same archive unpacks, each hard link a copy of the file before it.
    const ok = harness([artifact({ GetterSource: `${s.url}/links.tgz` })], { decompressionMaxBytes: 9000 });
    await ok.hook.prestart(ok.ctx);
    expect(readFileSync(join(ok.taskDir, 'local/h7'), 'utf8')).toBe('x'.repeat(1000));
  });

  it('reads a local file inside the allocation directory, relative to the task directory', async () => {
    const h = harness([artifact({ GetterSource: '../alloc/data/pkg.tgz' })]);
    writeFileSync(join(h.allocDir, 'alloc/data/pkg.tgz'), app);
    await h.hook.prestart(h.ctx);
    expect(existsSync(join(h.taskDir, 'local/bin/run.sh'))).toBe(true);
  });

  it('refuses a local file outside the allocation directory', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'drover-artifact-out-'));
    cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
    writeFileSync(join(outside, 'secret'), 'secret');
    for (const source of [join(outside, 'secret'), `file://${outside}/secret`, '../../../../../../../etc/passwd']) {
      const h = harness([artifact({ GetterSource: source })]);
      expect((await failure(h)).message).toContain('outside the allocation directory');
      expect(tree(join(h.taskDir, 'local'))).toEqual([]);
    }
  });

  it('refuses a destination that leaves the allocation directory without retrying', async () => {
    const s = await serve({ '/f': 'x' });
    const h = harness([artifact({ GetterSource: `${s.url}/f`, RelativeDest: '../../x' })]);
    const e = await failure(h);
    expect(e.details.recoverable).toBe(false);
    expect(e.message).toContain('escapes the allocation directory');
    expect(s.requests).toHaveLength(0);
  });

  it('refuses unsupported getters and archive types by name, without retrying', async () => {
    for (const [source, text] of [
      ['git::https://example.invalid/repo.git', 'getter "git::"'],
      ['s3://bucket/key', 'scheme "s3"'],
      ['github.com/hashicorp/nomad', 'git repository'],
      ['http://127.0.0.1:1/a.tar.xz', 'archive type "tar.xz"'],
      ['https://127.0.0.1:1/insecure', 'insecure = true'],
    ] as const) {
      const h = harness([artifact({ GetterSource: source, GetterInsecure: source.endsWith('insecure') })]);
      const e = await failure(h);
      expect(e.details.recoverable).toBe(false);
      expect(e.message).toContain(text);
      expect((e.details.taskEvent as TaskEvent).FailsTask).toBe(true);
    }
  });
});

describe('hostile archives', () => {
  const cases: Array<[string, (e: Parameters<typeof tarOf>[0]) => Buffer, Parameters<typeof tarOf>[0], string]> = [
    [
      'a tar entry with ../',
      tgzOf,
      [
        { name: 'ok', body: 'ok' },
        { name: '../../../escaped', body: 'x' },
      ],
      'leaves the destination',
    ],
    ['a tar entry with an absolute path', tgzOf, [{ name: '/tmp/escaped-abs', body: 'x' }], 'absolute path'],
    ['a tar symlink to an absolute path', tgzOf, [{ name: 'l', type: 'symlink', link: '/etc' }], 'absolute path'],
    ['a tar symlink climbing out', tgzOf, [{ name: 'd/l', type: 'symlink', link: '../../..' }], 'points outside'],
    [
      'a tar entry written through a symlink',
      tgzOf,
      [
        { name: 'l', type: 'symlink', link: '.' },
        { name: 'l/x', body: 'x' },
      ],
      'through a symlink',
    ],
    [
      'a tar symlink chain resolving outside',
      tgzOf,
      [
        { name: 'a/b', type: 'dir' },
        { name: 'a/up', type: 'symlink', link: 'b/../..' },
        { name: 'a/b/c', type: 'symlink', link: '..' },
        { name: 'a/esc', type: 'symlink', link: 'b/c/../..' },
      ],
      'outside',
    ],
    ['a tar hard link to a path outside', tgzOf, [{ name: 'h', type: 'link', link: '/etc/passwd' }], 'hard link'],
    [
      'a tar hard link to a file a later entry replaced by a symlink',
      tgzOf,
      [
        { name: 'f', body: 'x' },
        { name: 'f', type: 'symlink', link: '.' },
        { name: 'g', type: 'link', link: 'f' },
      ],
      'hard link',
    ],
    ['a tar FIFO', tgzOf, [{ name: 'p', type: 'fifo' }], 'not a file'],
    ['a zip entry with ../', zipOf, [{ name: '../escaped', body: 'x' }], 'invalid relative path'],
    ['a zip entry with an absolute path', zipOf, [{ name: '/tmp/escaped-abs', body: 'x' }], 'absolute path'],
    ['a zip symlink climbing out', zipOf, [{ name: 'l', type: 'symlink', link: '../../../etc' }], 'points outside'],
  ];
  for (const [what, build, entries, text] of cases) {
    it(`refuses ${what} and leaves nothing behind`, async () => {
      const ext = build === zipOf ? 'zip' : 'tgz';
      const s = await serve({ [`/evil.${ext}`]: build(entries) });
      const h = harness([artifact({ GetterSource: `${s.url}/evil.${ext}`, RelativeDest: 'local/deep/er' })]);
      const e = await failure(h);
      expect(e.message).toContain(text);
      expect((e.details.taskEvent as TaskEvent).Type).toBe('Failed Artifact Download');
      // Nothing landed in the destination, next to it, or anywhere in the data dir outside the task's own dirs.
      expect(tree(join(h.taskDir, 'local'))).toEqual([]);
      expect(tree(h.data).filter((p) => !p.startsWith('alloc'))).toEqual([]);
      expect(existsSync('/tmp/escaped-abs')).toBe(false);
      expect(readdirSync(h.taskDir).sort()).toEqual(['local', 'secrets', 'tmp']);
    });
  }

  it('fails cleanly, without hanging, on corrupt, truncated and empty archives', async () => {
    const full = tgzOf([{ name: 'a', body: 'x'.repeat(5000) }]);
    const zip = zipOf([{ name: 'a', body: 'x'.repeat(100) }]);
    const s = await serve({
      '/garbage.tar.gz': Buffer.from('this is not gzip at all'),
      '/cut.tar.gz': full.subarray(0, Math.floor(full.length / 2)),
      '/cut.zip': zip.subarray(0, zip.length - 30),
      '/empty.zip': Buffer.alloc(0),
      '/garbage.gz': Buffer.from('nope'),
    });
    for (const f of ['garbage.tar.gz', 'cut.tar.gz', 'cut.zip', 'empty.zip', 'garbage.gz']) {
      const h = harness([artifact({ GetterSource: `${s.url}/${f}` })]);
      const e = await failure(h);
      expect((e.details.taskEvent as TaskEvent).Type, f).toBe('Failed Artifact Download');
      expect(tree(join(h.taskDir, 'local')), f).toEqual([]);
      expect(readdirSync(h.taskDir).sort(), f).toEqual(['local', 'secrets', 'tmp']);
    }
  });

  it('allows a symlink that stays inside the destination', async () => {
    const s = await serve({
      '/ok.tgz': tgzOf([
        { name: 'lib/libx.so.1', body: 'lib' },
        { name: 'bin/libx', type: 'symlink', link: '../lib/libx.so.1' },
      ]),
    });
    const h = harness([artifact({ GetterSource: `${s.url}/ok.tgz` })]);
    await h.hook.prestart(h.ctx);
    expect(readFileSync(join(h.taskDir, 'local/bin/libx'), 'utf8')).toBe('lib');
  });

  it('does not follow a symlink the task planted in its destination', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'drover-artifact-out-'));
    cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
    const s = await serve({ '/ok.tgz': tgzOf([{ name: 'conf/app.conf', body: 'new' }]) });
    const h = harness([artifact({ GetterSource: `${s.url}/ok.tgz` })]);
    mkdirSync(join(h.taskDir, 'local'), { recursive: true });
    const { symlinkSync } = await import('node:fs');
    symlinkSync(outside, join(h.taskDir, 'local/conf'));
    await h.hook.prestart(h.ctx);
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(join(h.taskDir, 'local/conf/app.conf'), 'utf8')).toBe('new');
  });
});
