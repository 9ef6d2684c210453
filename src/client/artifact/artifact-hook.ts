/**
 * The artifact hook: fetches a task's `artifact` blocks into its directory before it starts, as Nomad's
 * artifact hook does with go-getter.
 *
 *   prestart ─► artifacts not yet fetched? ─► event "Downloading Artifacts"
 *     ─► each artifact: interpolate ─► parse source ─► fetch into a fresh staging dir (hash, size, time limits)
 *        ─► checksum ─► unpack there (archive) ─► move into the destination (confined to the allocation dir)
 *     ─► failure: event "Failed Artifact Download" with the error; the task fails that start and the restart
 *        policy decides (a retry fetches again, with its own events); a malformed source fails the task at once.
 *   An artifact fetched once is not fetched again when the task restarts (Nomad keeps the same record).
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Task, TaskArtifact } from '../../structs/index.js';
import { TaskEventTypes } from '../../structs/index.js';
import { DroverError } from '../../errors/index.js';
import { confinedPath } from '../alloc-dir.js';
import type { TaskHook, TaskHookContext, TaskHookFactory } from '../hooks.js';
import { interpolateString } from '../interpolate.js';
import { taskEvent } from '../task-events.js';
import { fetchArtifact, redact } from './fetch.js';
import { parseArtifactSource, type ArtifactSource } from './source.js';
import { gunzipTo, unpackTar, unpackZip, type UnpackLimits } from './unpack.js';

export interface ArtifactHookOptions {
  /** The allocation's directory: every destination and local source stays inside it. */
  allocDir: (allocID: string) => string;
  now: () => number;
  limits?: Partial<ArtifactClientConfig>;
}

/** The agent config's `client { artifact { ... } }`, in ms and bytes. */
export interface ArtifactClientConfig {
  httpReadTimeoutMs: number;
  httpMaxBytes: number;
  decompressionMaxBytes: number;
  decompressionMaxFiles: number;
}

export const DEFAULT_ARTIFACT_CONFIG: ArtifactClientConfig = {
  httpReadTimeoutMs: 30 * 60_000,
  httpMaxBytes: 100e9,
  decompressionMaxBytes: 100e9,
  decompressionMaxFiles: 4096,
};

/** The hook for tasks that have artifacts; none for the others. */
export function artifactHookFactory(o: ArtifactHookOptions): TaskHookFactory {
  return ({ task }) => ((task.Artifacts ?? []).length > 0 ? [new ArtifactHook(o, task)] : []);
}

export class ArtifactHook implements TaskHook {
  readonly name = 'artifacts';
  /** Indexes of the artifacts fetched by an earlier start of this task. */
  private readonly done = new Set<number>();
  private readonly config: ArtifactClientConfig;

  constructor(
    private readonly options: ArtifactHookOptions,
    private readonly task: Task,
  ) {
    this.config = { ...DEFAULT_ARTIFACT_CONFIG, ...options.limits };
  }

  async prestart(ctx: TaskHookContext): Promise<void> {
    const artifacts = this.task.Artifacts ?? [];
    if (artifacts.every((_, i) => this.done.has(i))) return;
    ctx.emitEvent(taskEvent(TaskEventTypes.Downloading, this.options.now()));
    for (const [i, a] of artifacts.entries()) {
      if (this.done.has(i)) continue;
      const source = interpolateString(a.GetterSource, ctx.interpolation);
      try {
        await this.fetchOne(ctx, a, source);
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        const recoverable = !(e instanceof DroverError && e.details.recoverable === false);
        const message = `failed to download artifact ${JSON.stringify(redact(source))}: ${(e as Error).message}`;
        const event = taskEvent(TaskEventTypes.ArtifactDownloadFailed, this.options.now(), {
          DownloadError: message,
          FailsTask: !recoverable,
        });
        throw new DroverError('ArtifactDownload', message, { details: { recoverable, taskEvent: event }, cause: e });
      }
      this.done.add(i);
    }
  }

  private async fetchOne(ctx: TaskHookContext, a: TaskArtifact, source: string): Promise<void> {
    const allocDir = this.options.allocDir(ctx.alloc.ID);
    const opts: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.GetterOptions ?? {}))
      opts[k] = interpolateString(String(v), ctx.interpolation);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.GetterHeaders ?? {}))
      headers[k] = interpolateString(String(v), ctx.interpolation);
    const src = parseArtifactSource(source, opts, ctx.dirs.dir);
    if (a.GetterInsecure && src.location.startsWith('https:'))
      throw new DroverError('BadRequest', 'insecure = true (no TLS verification) is not supported', {
        details: { recoverable: false },
      });
    const mode = (a.GetterMode || 'any') as 'any' | 'file' | 'dir';
    // Relative to the task directory, a leading / included (Nomad joins it to the task dir).
    const relDest = interpolateString(a.RelativeDest || 'local/', ctx.interpolation).replace(/^\/+/, '');
    let dest: string;
    try {
      dest = confinedPath(allocDir, ctx.task.Name, relDest);
    } catch {
      throw new DroverError('BadRequest', `destination ${JSON.stringify(relDest)} escapes the allocation directory`, {
        details: { recoverable: false },
      });
    }
    if (mode === 'dir' && src.archive === null)
      throw new DroverError(
        'BadRequest',
        'mode "dir" needs an archive (tar, tar.gz, zip) or options { archive = "..." }',
        {
          details: { recoverable: false },
        },
      );

    // A staging dir made here, so no one else can have planted a link in it; thrown away whatever happens.
    const stage = mkdtempSync(join(confinedPath(allocDir, ctx.task.Name), '.artifact-'));
    try {
      const download = join(stage, 'download-' + randomBytes(4).toString('hex'));
      const got = await fetchArtifact(src, download, {
        allocDir,
        headers,
        limits: { maxBytes: this.config.httpMaxBytes, timeoutMs: this.config.httpReadTimeoutMs },
        signal: ctx.signal,
      });
      if (src.checksum && got.digest !== src.checksum.hex)
        throw new Error(
          `checksums did not match: expected ${src.checksum.algo}:${src.checksum.hex}, got ${got.digest}`,
        );
      ctx.logger.info('artifact downloaded', { source: redact(source), bytes: got.bytes });
      const out = join(stage, 'out');
      mkdirSync(out);
      await this.unpack(src, mode, download, out, ctx.signal);
      place(mode, out, dest, allocDir, ctx.task.Name, relDest);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  /** Leaves in `out` what goes to the destination: a tree (dir/any archive), or one file named `file`. */
  private async unpack(
    src: ArtifactSource,
    mode: 'any' | 'file' | 'dir',
    download: string,
    out: string,
    signal: AbortSignal,
  ): Promise<void> {
    const limits: UnpackLimits = {
      maxBytes: this.config.decompressionMaxBytes,
      maxFiles: this.config.decompressionMaxFiles,
    };
    const single = mode === 'file' ? join(out, 'file') : join(out, src.filename);
    switch (src.archive) {
      case null:
        renameSync(download, single);
        return;
      case 'gz':
        await gunzipTo(
          download,
          mode === 'file' ? single : join(out, src.filename.replace(/\.gz$/i, '') || 'artifact'),
          limits,
          signal,
        );
        return;
      case 'tar':
      case 'tar.gz':
      case 'zip': {
        const tree = mode === 'file' ? join(out, '.tree') : out;
        mkdirSync(tree, { recursive: true });
        if (src.archive === 'zip') await unpackZip(download, tree, limits, signal);
        else await unpackTar(download, tree, limits, signal);
        if (mode === 'file') {
          const files = listFiles(tree);
          if (files.length !== 1)
            throw new Error(`mode "file" needs an archive holding exactly one file, this one holds ${files.length}`);
          renameSync(files[0]!, single);
          rmSync(tree, { recursive: true, force: true });
        }
        return;
      }
    }
  }
}

/** Moves the staged result into the destination, re-checking confinement just before. */
function place(
  mode: 'any' | 'file' | 'dir',
  out: string,
  dest: string,
  allocDir: string,
  taskName: string,
  relDest: string,
): void {
  if (mode === 'file') {
    mkdirSync(confinedPath(allocDir, taskName, dirname(relDest)), { recursive: true });
    confinedPath(allocDir, taskName, relDest);
    rmSync(dest, { recursive: true, force: true });
    renameSync(join(out, 'file'), dest);
    return;
  }
  mkdirSync(confinedPath(allocDir, taskName, relDest), { recursive: true });
  mergeInto(out, dest);
}

/** Moves every entry of `from` into `to`: directories merge, anything else replaces what was there. */
function mergeInto(from: string, to: string): void {
  for (const d of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, d.name);
    const dst = join(to, d.name);
    if (d.isDirectory() && isRealDir(dst)) {
      mergeInto(src, dst);
      continue;
    }
    rmSync(dst, { recursive: true, force: true });
    renameSync(src, dst);
  }
}

function isRealDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Regular files and symlinks under `dir`, for mode "file". */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}
