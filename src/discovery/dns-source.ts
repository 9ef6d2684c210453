/**
 * A DnsCatalogSource over service registrations: what the agent passes to the DNS server when it holds the
 * catalog in memory (the server's state store, or a client-side cache of `GET /v1/service/:name`).
 */
import type { ServiceRegistration } from '../structs/index.js';
import { registrationStatus } from './catalog.js';
import type { DnsCatalogSource, DnsInstance } from './dns-names.js';

export interface RegistrationDnsSourceOptions {
  /** DNS has no namespace: the one to serve. Default `default`; `*` serves every namespace. */
  namespace?: string;
  /** The agent's datacenter: a name without `.<dc>` means this one, as Consul. Absent: any datacenter. */
  datacenter?: string;
}

/** Passing instances from `list()`, read at every query, matched case-insensitively as DNS names are. */
export function registrationDnsSource(
  list: () => Iterable<ServiceRegistration>,
  opts: RegistrationDnsSourceOptions = {},
): DnsCatalogSource {
  const ns = opts.namespace ?? 'default';
  return {
    lookup(q) {
      const name = q.service.toLowerCase();
      const tag = q.tag?.toLowerCase();
      const dc = (q.dc ?? opts.datacenter)?.toLowerCase();
      const out: DnsInstance[] = [];
      for (const r of list()) {
        if (r.ServiceName.toLowerCase() !== name) continue;
        if (ns !== '*' && r.Namespace !== ns) continue;
        if (dc && r.Datacenter.toLowerCase() !== dc) continue;
        if (tag && !(r.Tags ?? []).some((t) => t.toLowerCase() === tag)) continue;
        if (registrationStatus(r) !== 'passing') continue;
        out.push({ Address: r.Address, Port: r.Port, Datacenter: r.Datacenter });
      }
      return out;
    },
  };
}
