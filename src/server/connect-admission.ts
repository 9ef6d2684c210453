/**
 * Admission of Connect services (Nomad's `jobConnectHook`): for each group service with
 * `connect { sidecar_service {} }`, the job gets the sidecar task Nomad would inject (`connect-proxy-<service>`,
 * a prestart sidecar) run by Drover's built-in proxy (the client's `connect_proxy` driver, src/mesh), and a
 * dynamic port of the same name for the sidecar's inbound mTLS listener (the service's mesh address).
 *
 * The validator refuses what cannot work: a Connect sidecar outside bridge mode, a service port that is not a
 * group port, an upstream without a local port, or one whose port the group already uses.
 */
import { isIP } from 'node:net';
import type { Problem } from '../errors/index.js';
import { connectProxyKind, connectProxyTaskName, type Job, type Task, type TaskGroup } from '../structs/index.js';
import type { JobMutator, JobValidator } from './admission.js';

type Obj = Record<string, any>;

function sidecarServices(g: TaskGroup): Array<{ s: Obj; index: number }> {
  return ((g.Services ?? []) as Obj[])
    .map((s, index) => ({ s, index }))
    .filter(({ s }) => s?.Connect?.SidecarService != null && s.Connect.Native !== true);
}

/** The task Nomad injects, with Drover's built-in proxy as its driver. */
function sidecarTask(service: string): Task {
  return {
    Name: connectProxyTaskName(service),
    Driver: 'connect_proxy',
    Kind: connectProxyKind(service),
    Config: {},
    Lifecycle: { Hook: 'prestart', Sidecar: true },
    Resources: { CPU: 100, MemoryMB: 64 },
  } as unknown as Task;
}

/** Adds the sidecar tasks and mesh ports; runs before the defaults are filled so they apply to the new task. */
export const connectSidecars: JobMutator = {
  name: 'connect-sidecars',
  mutate: (job) => {
    for (const g of (job.TaskGroups ?? []) as TaskGroup[]) {
      if (!g || typeof g !== 'object') continue;
      for (const { s } of sidecarServices(g)) {
        if (typeof s.Name !== 'string' || s.Name === '') continue;
        const taskName = connectProxyTaskName(s.Name);
        if (!Array.isArray(g.Tasks)) continue;
        if (!g.Tasks.some((t) => t?.Name === taskName)) g.Tasks.push(sidecarTask(s.Name));
        const net = g.Networks?.[0];
        if (!net) continue;
        const ports = (net.DynamicPorts ??= []);
        if (!ports.some((p) => p.Label === taskName))
          ports.push({ Label: taskName, Value: 0, To: 0, HostNetwork: 'default' });
      }
    }
    return { job };
  },
};

/** The ports a group already uses inside its namespace (static, dynamic `to`). */
function groupPorts(g: TaskGroup): Map<number, string> {
  const used = new Map<number, string>();
  for (const p of [...(g.Networks?.[0]?.ReservedPorts ?? []), ...(g.Networks?.[0]?.DynamicPorts ?? [])]) {
    const inside = p.To > 0 ? p.To : p.Value;
    if (inside > 0) used.set(inside, `port "${p.Label}"`);
  }
  return used;
}

export const connectValidator: JobValidator = {
  name: 'connect',
  validate: (job: Job) => {
    const problems: Problem[] = [];
    (job.TaskGroups ?? []).forEach((g, gi) => {
      const services = sidecarServices(g);
      if (services.length === 0) return;
      const mode = g.Networks?.[0]?.Mode || 'host';
      const used = groupPorts(g);
      const labels = new Set([
        ...(g.Networks?.[0]?.ReservedPorts ?? []).map((p) => p.Label),
        ...(g.Networks?.[0]?.DynamicPorts ?? []).map((p) => p.Label),
      ]);
      for (const { s, index } of services) {
        const path = `TaskGroups[${gi}].Services[${index}]`;
        if (mode !== 'bridge')
          problems.push({
            path: `TaskGroups[${gi}].Networks`,
            message: `service "${s.Name}" has a Connect sidecar, which needs network { mode = "bridge" } (the group's mode is "${mode}")`,
          });
        if (!labels.has(s.PortLabel) && !/^\d+$/.test(String(s.PortLabel ?? '')))
          problems.push({
            path: `${path}.PortLabel`,
            message: `a Connect service needs the port its sidecar forwards to: "${s.PortLabel ?? ''}" is not a port of the group's network`,
          });
        const upstreams = (s.Connect?.SidecarService?.Proxy?.Upstreams ?? []) as Obj[];
        upstreams.forEach((u, ui) => {
          const up = `${path}.Connect.SidecarService.Proxy.Upstreams[${ui}]`;
          if (typeof u.DestinationName !== 'string' || u.DestinationName === '')
            problems.push({ path: `${up}.DestinationName`, message: 'destination_name is required' });
          if (u.LocalBindAddress !== undefined && u.LocalBindAddress !== '' && isIP(String(u.LocalBindAddress)) === 0)
            problems.push({
              path: `${up}.LocalBindAddress`,
              message: `local_bind_address must be an IP address, not "${String(u.LocalBindAddress)}"`,
            });
          const port = u.LocalBindPort;
          if (!Number.isInteger(port) || port < 1 || port > 65535) {
            problems.push({ path: `${up}.LocalBindPort`, message: 'local_bind_port must be a port number (1-65535)' });
            return;
          }
          const clash = used.get(port);
          if (clash)
            problems.push({
              path: `${up}.LocalBindPort`,
              message: `local_bind_port ${port} is already used in the group (${clash}): pick another port`,
            });
          else used.set(port, `upstream "${u.DestinationName}" of service "${s.Name}"`);
        });
      }
    });
    return { problems };
  },
};
