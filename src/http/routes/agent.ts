/** Agent and status endpoints: `/v1/agent/self`, `/v1/agent/health`, `/v1/status/leader`, `/v1/status/peers`. */
import type { Router } from '../router.js';
import { JsonReply } from '../reply.js';
import type { HttpApiOptions } from '../types.js';

export function agentRoutes(r: Router, opts: HttpApiOptions): void {
  r.get('/v1/agent/self', () => opts.agent.self());
  // As Nomad: 500 when a part is unhealthy. The server is unhealthy while its state writes fail (disk full):
  // reads still work, but nothing new is accepted until a write succeeds again.
  r.get('/v1/agent/health', () => {
    const w = opts.server?.writeHealth?.() ?? { ok: true as const };
    const server = w.ok ? { ok: true, message: 'ok' } : { ok: false, message: `state writes failing since ${new Date(w.since).toISOString()}: ${w.error}` };
    const body = {
      ...(opts.server ? { server } : {}),
      ...(opts.client ? { client: { ok: true, message: 'ok' } } : {}),
    };
    return new JsonReply(body, undefined, opts.server && !w.ok ? 500 : 200);
  });
  r.get('/v1/status/leader', () => (opts.server ? opts.server.leaderAddress() : ''));
  r.get('/v1/status/peers', () => (opts.server ? [opts.server.leaderAddress()] : []));
  r.get('/v1/regions', () => [String((opts.agent.self()['config'] as Record<string, unknown> | undefined)?.['Region'] ?? 'global')]);
}
