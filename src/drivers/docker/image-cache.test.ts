import { describe, expect, it } from 'vitest';
import { DockerApiError, type DockerClient } from './api.js';
import { ensureImage, LocalImageCache } from './image.js';

/** A dockerd that knows some images and counts the inspects it answers. */
function fakeDocker(images: Record<string, string>): { client: DockerClient; inspects: () => number } {
  let n = 0;
  const client = {
    json: async ({ path }: { path: string }) => {
      n++;
      // An inspect takes time, so concurrent lookups overlap and the cache must share one answer between them.
      await new Promise((r) => setTimeout(r, 5));
      const name = decodeURIComponent(path.replace(/^\/images\//, '').replace(/\/json$/, ''));
      if (images[name]) return { Id: images[name] };
      throw new DockerApiError(404, 'No such image', path);
    },
  } as unknown as DockerClient;
  return { client, inspects: () => n };
}

describe('LocalImageCache', () => {
  it('answers fifty concurrent lookups of one image with one inspect', async () => {
    const d = fakeDocker({ 'busybox:latest': 'sha256:b' });
    const cache = new LocalImageCache(d.client);
    const ids = await Promise.all(
      Array.from({ length: 50 }, () => ensureImage(d.client, 'busybox', { forcePull: false, timeoutMs: 1000, cache })),
    );
    expect(new Set(ids)).toEqual(new Set(['sha256:b']));
    expect(d.inspects()).toBe(1);
  });

  it('asks again once the TTL has passed, after forget, and every time for a missing image', async () => {
    let now = 0;
    const d = fakeDocker({ 'busybox:latest': 'sha256:b' });
    const cache = new LocalImageCache(d.client, 10_000, () => now);
    await cache.id('busybox:latest');
    await cache.id('busybox:latest');
    expect(d.inspects()).toBe(1);
    now = 10_001;
    await cache.id('busybox:latest');
    expect(d.inspects()).toBe(2);
    cache.forget('busybox');
    await cache.id('busybox:latest');
    expect(d.inspects()).toBe(3);
    expect(await cache.id('nope:latest')).toBeUndefined();
    expect(await cache.id('nope:latest')).toBeUndefined();
    expect(d.inspects()).toBe(5);
  });
});
