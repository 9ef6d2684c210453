/**
 * Finds a task's image locally, or pulls it with progress reported as driver events. A pull that cannot reach
 * a registry fails within the pull timeout with a message naming the image.
 */
import { driverError } from '../shared/index.js';
import { type DockerClient, isDockerStatus, readJSONLines } from './api.js';
import { normalizeImage, splitImage } from './config.js';

export interface PullOptions {
  forcePull: boolean;
  /** Remembers local image IDs for a few seconds, so N tasks of one image starting together ask dockerd once. */
  cache?: LocalImageCache;
  authHeader?: string;
  timeoutMs: number;
  onEvent?: (type: string, message: string) => void;
  signal?: AbortSignal;
}

/** Returns the image's ID, pulling it when it is absent (or when force_pull is set). */
export async function ensureImage(client: DockerClient, image: string, o: PullOptions): Promise<string> {
  const name = normalizeImage(image);
  if (!o.forcePull) {
    const id = o.cache ? await o.cache.id(name) : await localImageID(client, name);
    if (id) return id;
  }
  o.cache?.forget(name);
  try {
    await pull(client, name, o);
  } catch (err) {
    if (o.signal?.aborted) throw o.signal.reason;
    // With force_pull, a local copy still does when the registry is away.
    const id = o.forcePull ? await localImageID(client, name) : undefined;
    if (id) return id;
    const why = err instanceof Error ? err.message : String(err);
    throw driverError(`image ${name} not found locally and could not be pulled: ${why}`, true, err);
  }
  const id = await localImageID(client, name);
  if (!id)
    throw driverError(
      `image ${name} not found locally and could not be pulled: the pull ended without the image`,
      true,
    );
  return id;
}

/**
 * Local image IDs, shared by concurrent lookups and kept for `ttlMs`. A job with count = 50 starts 50 tasks of
 * one image at once; each used to inspect the image on its own, 50 requests to a dockerd busy creating and
 * starting containers. Only a found image is kept: a missing one is looked up again (and pulled) every time.
 * An image removed within the TTL makes the container create fail with 404; the driver then forgets it.
 */
export class LocalImageCache {
  private readonly found = new Map<string, { id: string; at: number }>();
  private readonly inFlight = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly client: DockerClient,
    private readonly ttlMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  async id(name: string): Promise<string | undefined> {
    const hit = this.found.get(name);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.id;
    let p = this.inFlight.get(name);
    if (p === undefined) {
      p = localImageID(this.client, name).finally(() => this.inFlight.delete(name));
      this.inFlight.set(name, p);
    }
    const id = await p;
    if (id) this.found.set(name, { id, at: this.now() });
    else this.found.delete(name);
    return id;
  }

  forget(name: string): void {
    this.found.delete(normalizeImage(name));
  }
}

export async function localImageID(client: DockerClient, name: string): Promise<string | undefined> {
  try {
    const img = await client.json<{ Id: string }>({ path: `/images/${encodeURIComponent(name)}/json` });
    return img.Id;
  } catch (err) {
    if (isDockerStatus(err, 404)) return undefined;
    throw err;
  }
}

async function pull(client: DockerClient, name: string, o: PullOptions): Promise<void> {
  const { repo, tag } = splitImage(name);
  o.onEvent?.('Driver', `Pulling Image ${name}`);
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new Error(`pull timed out after ${Math.round(o.timeoutMs / 1000)}s`)),
    o.timeoutMs,
  );
  const onAbort = () => ac.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await client.stream({
      method: 'POST',
      path: '/images/create',
      query: { fromImage: repo, tag },
      headers: o.authHeader ? { 'X-Registry-Auth': o.authHeader } : {},
      signal: ac.signal,
    });
    let lastReport = 0;
    let error: string | undefined;
    // Each layer's last status: a small layer may go straight to "Pull complete" with no "Downloading" line,
    // so the closing event counts layers rather than relying on progress lines.
    const layers = new Map<string, string>();
    await readJSONLines(res.body, (line) => {
      if (typeof line.error === 'string') error = line.error;
      if (typeof line.id === 'string' && typeof line.status === 'string' && line.status !== 'Waiting') {
        if (line.status === 'Already exists' || line.status === 'Pull complete' || !layers.has(line.id))
          layers.set(line.id, line.status);
      }
      // Progress lines come many per second; one event every few seconds is enough for a human.
      const now = Date.now();
      if (line.status === 'Downloading' && now - lastReport > 5000) {
        lastReport = now;
        o.onEvent?.('Driver', `Downloading image ${name}: ${String(line.progress ?? '')}`.trim());
      }
    });
    if (error) throw new Error(error);
    const pulled = [...layers.values()].filter((st) => st === 'Pull complete').length;
    const present = [...layers.values()].filter((st) => st === 'Already exists').length;
    if (pulled + present > 0)
      o.onEvent?.('Driver', `Pulled image ${name}: downloaded ${pulled} of ${pulled + present} layers`);
  } catch (err) {
    if (ac.signal.aborted && !o.signal?.aborted) throw ac.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}
