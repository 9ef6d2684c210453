import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DockerApiError, type DockerClient } from './api.js';
import { ensureImage } from './image.js';

/** A dockerd without the image whose pull answers `lines` as its JSON progress stream, then has the image. */
function pullingDocker(lines: object[]): DockerClient {
  let pulled = false;
  return {
    json: async ({ path }: { path: string }) => {
      await Promise.resolve();
      if (pulled) return { Id: 'sha256:new' };
      throw new DockerApiError(404, 'No such image', path);
    },
    stream: async () => {
      await Promise.resolve();
      pulled = !lines.some((l) => 'error' in l);
      return { status: 200, body: Readable.from(lines.map((l) => JSON.stringify(l) + '\n')) };
    },
  } as unknown as DockerClient;
}

describe('ensureImage pull events', () => {
  it('ends a pull with an event counting the layers downloaded and already present', async () => {
    const events: string[] = [];
    const client = pullingDocker([
      { status: 'Pulling from cd-app', id: 'c1' },
      { status: 'Already exists', id: 'aaa' },
      { status: 'Already exists', id: 'bbb' },
      { status: 'Pulling fs layer', id: 'ccc' },
      { status: 'Waiting', id: 'ccc' },
      { status: 'Download complete', id: 'ccc' },
      { status: 'Pull complete', id: 'ccc' },
      { status: 'Digest: sha256:0123' },
      { status: 'Status: Downloaded newer image for 127.0.0.1:5000/cd-app:c1' },
    ]);
    const id = await ensureImage(client, '127.0.0.1:5000/cd-app:c1', {
      forcePull: false,
      timeoutMs: 5000,
      onEvent: (_t, m) => events.push(m),
    });
    expect(id).toBe('sha256:new');
    expect(events).toEqual([
      'Pulling Image 127.0.0.1:5000/cd-app:c1',
      'Pulled image 127.0.0.1:5000/cd-app:c1: downloaded 1 of 3 layers',
    ]);
  });

  it('reports no layer count when the pull fails, and names the image and the registry error', async () => {
    const events: string[] = [];
    const client = pullingDocker([
      { status: 'Pulling from cd-app', id: 'c1' },
      { error: 'manifest for 127.0.0.1:5000/cd-app:nope not found: manifest unknown' },
    ]);
    await expect(
      ensureImage(client, '127.0.0.1:5000/cd-app:nope', {
        forcePull: false,
        timeoutMs: 5000,
        onEvent: (_t, m) => events.push(m),
      }),
    ).rejects.toThrow(
      'image 127.0.0.1:5000/cd-app:nope not found locally and could not be pulled: manifest for 127.0.0.1:5000/cd-app:nope not found: manifest unknown',
    );
    expect(events).toEqual(['Pulling Image 127.0.0.1:5000/cd-app:nope']);
  });
});
