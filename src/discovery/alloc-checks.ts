/**
 * `GET /v1/client/allocation/:id/checks`, Nomad's AllocCheckStatus map (what `alloc checks` and the checks part
 * of `alloc status` show), from an allocation's service workloads and their latest check results.
 */
import type { AllocCheckStatus, ServiceCheckResult, ServiceRegistration } from '../structs/index.js';
import type { ServiceWorkload } from './registrations.js';

export type { AllocCheckStatus };

/**
 * Keyed by check ID. `current` holds the latest registrations (e.g. ServiceRegistrar.registrations()); a check
 * without a result yet is pending. A warning counts as success, as Nomad has no warning state here.
 */
export function allocCheckStatuses(
  group: string,
  workloads: ServiceWorkload[],
  current: ServiceRegistration[] = [],
): Record<string, AllocCheckStatus> {
  const results = new Map<string, ServiceCheckResult>();
  for (const r of current) for (const c of r.Checks ?? []) results.set(c.CheckID, c);
  const out: Record<string, AllocCheckStatus> = {};
  for (const w of workloads) {
    for (const c of w.checks) {
      const r = results.get(c.CheckID);
      const ran = r !== undefined && r.Timestamp > 0;
      out[c.CheckID] = {
        ID: c.CheckID,
        Check: c.Name,
        Group: group,
        Mode: c.OnUpdate === 'ignore' ? 'readiness' : 'healthiness',
        Output: r?.Output ?? '',
        Service: w.registration.ServiceName,
        Task: w.task,
        Status: !ran ? 'pending' : r.Status === 'critical' ? 'failure' : 'success',
        StatusCode: r?.StatusCode ?? 0,
        Timestamp: ran ? Math.floor(r.Timestamp / 1e9) : 0,
      };
    }
  }
  return out;
}
