/** Agent and status endpoints: `/v1/agent/self`, `/v1/agent/health`, `/v1/status/leader`, `/v1/status/peers`. */
import type { Router } from '../router.js';
import type { HttpApiOptions } from '../types.js';

export function agentRoutes(r: Router, opts: HttpApiOptions): void {
  r.get('/v1/agent/self', () => opts.agent.self());
  r.get('/v1/agent/health', () => ({
    ...(opts.server ? { server: { ok: true, message: 'ok' } } : {}),
    ...(opts.client ? { client: { ok: true, message: 'ok' } } : {}),
  }));
  r.get('/v1/status/leader', () => (opts.server ? opts.server.leaderAddress() : ''));
  r.get('/v1/status/peers', () => (opts.server ? [opts.server.leaderAddress()] : []));
  r.get('/v1/regions', () => [String((opts.agent.self()['config'] as Record<string, unknown> | undefined)?.['Region'] ?? 'global')]);
}
