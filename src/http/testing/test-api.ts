/**
 * HTTP APIs for tests: on 127.0.0.1, port 0, with no agent info and no logs, so a test states only what it is
 * about (the server, ACLs, limits, a fake client). `testAgent` puts a real server behind one and stops both.
 */
import { nullLogger } from '../../logging/index.js';
import { createServer, type Server, type ServerOptions } from '../../server/index.js';
import { startHttpApi, type HttpApi, type HttpTlsOptions } from '../server.js';
import type { HttpApiOptions } from '../types.js';

export type TestHttpApiOptions = Partial<HttpApiOptions> & { tls?: HttpTlsOptions };

/** Test defaults for what the router needs besides a server: no agent info, no logs. */
export const testRouteOptions: Pick<HttpApiOptions, 'agent' | 'logger'> = {
  agent: { self: () => ({}) },
  logger: nullLogger,
};

export function testHttpApi(opts: TestHttpApiOptions = {}): Promise<HttpApi> {
  return startHttpApi({ host: '127.0.0.1', port: 0, ...testRouteOptions, ...opts });
}

export interface TestAgent {
  server: Server;
  http: HttpApi;
  /** Closes the HTTP API, then stops the server; a second call does nothing. */
  stop(): Promise<void>;
}

/**
 * A server (one worker, no logs, then `server`) behind a test HTTP API; `http` adds route options that need the
 * server (an ACL service on its store, limits).
 */
export async function testAgent(
  server: Partial<ServerOptions> & Pick<ServerOptions, 'dataDir'>,
  http: (s: Server) => TestHttpApiOptions | Promise<TestHttpApiOptions> = () => ({}),
): Promise<TestAgent> {
  const s = await createServer({ logger: nullLogger, numWorkers: 1, ...server });
  let api: HttpApi;
  try {
    api = await testHttpApi({ server: s, ...(await http(s)) });
  } catch (e) {
    await s.stop();
    throw e;
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await api.close();
      await s.stop();
    })());
  return { server: s, http: api, stop };
}
