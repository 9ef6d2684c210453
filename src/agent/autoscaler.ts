/**
 * The autoscaler's metric sources as this agent provides them (server/autoscaler-sources.ts has the sources;
 * this file says where their data comes from). They are built before the client and the gateway exist, so they
 * read those through `refs`, filled in as the agent starts.
 *
 *   nomad-apm       an allocation this agent's client runs: asked directly; another node's: its client
 *                   agent's `/v1/client/allocation/:id/stats` at Node.HTTPAddr (mutual TLS when TLS is on)
 *   drover-gateway  this agent's gateway (its admin /metrics) + `server { autoscaler { gateway_metrics } }`
 *   prometheus      `server { autoscaler { prometheus_address } }`, when set
 */
import type { Client } from '../client/index.js';
import { ADMIN_PREFIX, type Gateway } from '../gateway/index.js';
import { DroverError } from '../errors/index.js';
import {
  gatewaySource,
  nomadApmSource,
  prometheusSource,
  type AutoscalerOptions,
  type MetricSource,
  type Server,
} from '../server/index.js';
import type { Allocation, AllocStats } from '../structs/index.js';
import type { TlsFetch } from '../lib/tls-fetch.js';
import type { AgentConfig } from './config.js';
import { gatewayUrl } from './gateway.js';

export interface AutoscalerRefs {
  server?: Pick<Server, 'store'>;
  client?: Client;
  gateway?: Gateway;
  /** Mutual TLS to other client agents (agent `tls { http = true }`). */
  toClients?: TlsFetch;
}

const TIMEOUT_MS = 5000;

async function getText(url: string, signal: AbortSignal, fetchFn: typeof fetch = fetch): Promise<string> {
  const res = await fetchFn(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]) });
  const body = await res.text();
  if (!res.ok) throw new DroverError('Unavailable', `${url} answered ${res.status}: ${body.slice(0, 200)}`);
  return body;
}

/** The URL of the local gateway's Prometheus metrics. */
export function localGatewayMetricsUrl(config: AgentConfig, gateway: Gateway): string {
  if (gateway.adminPort !== undefined) {
    const host = (config.gateway.admin ?? '').replace(/:\d+$/, '').replace(/^0\.0\.0\.0$|^$/, '127.0.0.1');
    return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${gateway.adminPort}/metrics`;
  }
  return `${gatewayUrl(config.gateway.listen, gateway.port)}${ADMIN_PREFIX}/metrics`;
}

export function agentAutoscalerOptions(config: AgentConfig, refs: AutoscalerRefs): AutoscalerOptions {
  const settings = config.server.autoscaler ?? {};
  const allocStats = async (alloc: Allocation, signal: AbortSignal): Promise<AllocStats> => {
    if (refs.client?.hasAlloc(alloc.ID)) return refs.client.allocStats(alloc.ID);
    const node = refs.server?.store.snapshot().nodeByID(alloc.NodeID);
    if (!node?.HTTPAddr) throw new DroverError('Unavailable', `node ${alloc.NodeID} has no HTTP address`);
    const scheme = refs.toClients ? 'https' : 'http';
    const text = await getText(
      `${scheme}://${node.HTTPAddr}/v1/client/allocation/${alloc.ID}/stats`,
      signal,
      refs.toClients?.fetch,
    );
    return JSON.parse(text) as AllocStats;
  };
  const sources: Record<string, MetricSource> = {
    'nomad-apm': nomadApmSource(allocStats),
    'drover-gateway': gatewaySource(async (signal) => {
      const urls = [...(settings.gatewayMetrics ?? [])];
      if (refs.gateway) urls.push(localGatewayMetricsUrl(config, refs.gateway));
      return Promise.all(urls.map((u) => getText(u, signal)));
    }),
  };
  if (settings.prometheusAddress) sources.prometheus = prometheusSource(settings.prometheusAddress);
  return { sources };
}
