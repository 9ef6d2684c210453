/**
 * Local test images, built without a registry by scripts/build-test-images.sh. Tests call
 * `ensureTestImages()`; the script runs under a file lock, once per test process, and is a no-op when the
 * images are already current, so concurrent test files do not build twice.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
export const TEST_IMAGES = {
  busybox: 'drover-test/busybox:latest',
  node: 'drover-test/node:latest',
  jobsApp: 'drover-test/jobs-app:latest',
  authApp: 'drover-test/auth-app:latest',
};
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(REPO_ROOT, 'scripts', 'build-test-images.sh');
let once;
/** Builds (or confirms) every test image. Rejects with the script's output when a build fails. */
export function ensureTestImages() {
  once ??= new Promise((resolve, reject) => {
    const [cmd, args] = existsSync('/usr/bin/flock')
      ? ['flock', ['/tmp/drover-test-images.lock', 'bash', SCRIPT]]
      : ['bash', [SCRIPT]];
    execFile(cmd, args, { timeout: 300_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`scripts/build-test-images.sh failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
  return once;
}
//# sourceMappingURL=index.js.map
