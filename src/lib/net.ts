/** Small socket helpers shared by the agent and the tests. */
import { createServer, type AddressInfo } from 'node:net';

/**
 * A TCP port that was free on `host` a moment ago: the kernel picks it for a listener that is closed at once.
 * For programs that must be told a port (haproxy, etcd, containers); anything that can listen on port 0 should.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
