/** Listening on a port as a promise: resolves once bound, rejects with the bind error (EADDRINUSE, EACCES). */
import type { Server } from 'node:net';

export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
