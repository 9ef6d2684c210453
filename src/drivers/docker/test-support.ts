/**
 * Test support for the docker driver's tests: whether a Docker Engine is reachable, and the local images.
 * Not exported from index.ts.
 */
import { DockerClient } from './api.js';
import { ensureTestImages } from '../../../test/images/index.js';

export { TEST_IMAGES } from '../../../test/images/index.js';

let reason: Promise<string | undefined> | undefined;

/** undefined when dockerd answers and the test images are built; otherwise why the docker tests cannot run. */
export function dockerUnavailable(): Promise<string | undefined> {
  reason ??= (async () => {
    try {
      await new DockerClient().json({ path: '/_ping', timeoutMs: 5000 });
    } catch (err) {
      return `no Docker Engine at /var/run/docker.sock (${String(err)})`;
    }
    await ensureTestImages();
    return undefined;
  })();
  return reason;
}
