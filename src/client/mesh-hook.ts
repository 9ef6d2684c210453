/**
 * The client's side of a Connect sidecar (`connect-proxy-<service>` tasks, Task.Kind "connect-proxy:<service>").
 * The sidecar runs inside the allocation's namespace and cannot reach the agent, so this hook feeds it through
 * its config file (secrets/sidecar.json), rewritten whenever something it needs changed:
 *
 *   prestart ─► leaf + roots + intentions (servers) and healthy upstream instances (catalog) ─► write the file
 *     ─► every refreshMs: the same again (new leaf before the old one expires, intention changes, instances
 *        that fail their checks or leave the catalog) until the task is killed
 *   poststart / recovered ─► register "<service>-sidecar-proxy" (the host address of the mesh port)
 *   exited / preKill / stop ─► deregister it
 *
 * On the HAProxy data plane the same config is rendered into HAProxy's files (secrets/haproxy/) before the task
 * starts, and every later change is applied to the running HAProxy through its runtime API (HaproxySidecar).
 *
 * An instance's mesh address is its sidecar's registration; it is used only while the destination's own
 * registration for the same allocation exists and is not critical. A loopback address (an agent advertising
 * 127.0.0.1) is reached through the namespace's gateway, the host side of the bridge, where the client's DNAT
 * rules apply as they do on the host's loopback.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectProxyService,
  connectUpstreams,
  sidecarServiceName,
  type Node,
  type ServiceRegistration,
  type Service,
  type TaskGroup,
} from '../structs/index.js';
import { HAPROXY_SIDECAR_CONFIG_PATH, SIDECAR_CONFIG_FILE, type TaskHandle } from '../drivers/index.js';
import { HaproxySidecar, type SidecarConfig, type UpstreamConfig } from '../mesh/index.js';
import type { Logger } from '../logging/index.js';
import type { TaskHook, TaskHookContext, TaskHookFactory } from './hooks.js';
import type { ServerRPC } from './rpc.js';
import { taskPorts } from './task-env.js';
import { sleepFor } from './util.js';

export interface MeshHookOptions {
  rpc: Pick<
    ServerRPC,
    'meshSidecarMaterial' | 'serviceGet' | 'upsertServiceRegistrations' | 'deleteServiceRegistrations'
  >;
  node: () => Pick<Node, 'ID' | 'Datacenter'>;
  advertiseIP: string;
  logger: Logger;
  /** How often the sidecar's config is recomputed (default 1 s). */
  refreshMs?: number;
  /**
   * The sidecar's data plane (`client { connect { sidecar_data_plane } }`, resolved by the agent): HAProxy,
   * driven through its runtime API, or the built-in Node proxy fed through its config file. Default node.
   */
  dataPlane?: 'node' | 'haproxy';
}

/** One hook per Connect sidecar task. */
export function meshHookFactory(opts: MeshHookOptions): TaskHookFactory {
  return ({ task }) => {
    const service = connectProxyService(task.Kind);
    return service ? [new MeshSidecarHook(opts, service)] : [];
  };
}

class MeshSidecarHook implements TaskHook {
  readonly name = 'connect-sidecar';
  private loop: AbortController | undefined;
  private registered: ServiceRegistration | undefined;
  private last = '';
  private haproxy: HaproxySidecar | undefined;

  constructor(
    private readonly opts: MeshHookOptions,
    private readonly service: string,
  ) {}

  async prestart(ctx: TaskHookContext): Promise<void> {
    await this.writeConfig(ctx, true);
    this.startLoop(ctx);
  }

  async poststart(ctx: TaskHookContext, _handle: TaskHandle): Promise<void> {
    await this.register(ctx);
  }

  async recovered(ctx: TaskHookContext, _handle: TaskHandle): Promise<void> {
    this.startLoop(ctx);
    await this.register(ctx);
  }

  async exited(): Promise<void> {
    await this.deregister();
  }

  async preKill(): Promise<void> {
    this.loop?.abort();
    await this.deregister();
  }

  async stop(): Promise<void> {
    this.loop?.abort();
    await this.deregister();
  }

  private startLoop(ctx: TaskHookContext): void {
    this.loop?.abort();
    const ctl = new AbortController();
    this.loop = ctl;
    ctx.signal.addEventListener('abort', () => ctl.abort(), { once: true });
    const every = this.opts.refreshMs ?? 1_000;
    void (async () => {
      while (!ctl.signal.aborted) {
        await sleepFor(every, ctl.signal).catch(() => {});
        if (ctl.signal.aborted) return;
        await this.writeConfig(ctx).catch((e: unknown) =>
          ctx.logger.warn('sidecar config not refreshed', { service: this.service, err: String(e) }),
        );
      }
    })();
  }

  private groupService(group: TaskGroup): Service | undefined {
    return (group.Services ?? []).find((s) => s.Name === this.service);
  }

  /** The sidecar's config, from the servers' material and the catalog. */
  private async config(ctx: TaskHookContext): Promise<SidecarConfig> {
    const rpc = this.opts.rpc;
    if (!rpc.meshSidecarMaterial || !rpc.serviceGet)
      throw new Error('the servers this client talks to do not serve mesh certificates');
    const ns = ctx.alloc.Namespace || 'default';
    const material = await rpc.meshSidecarMaterial(ns, this.service);
    const ports = taskPorts(ctx.alloc, ctx.task.Name, this.opts.advertiseIP);
    const inside = (label: string) => {
      const p = ports.find((x) => x.label === label);
      return p ? (p.to > 0 ? p.to : p.value) : /^\d+$/.test(label) ? Number(label) : 0;
    };
    const svc = this.groupService(ctx.group);
    const upstreams: UpstreamConfig[] = [];
    for (const u of connectUpstreams(svc?.Connect)) {
      const destNs = u.DestinationNamespace || ns;
      upstreams.push({
        DestinationName: u.DestinationName,
        DestinationNamespace: destNs,
        LocalBindAddress: u.LocalBindAddress || '127.0.0.1',
        LocalBindPort: u.LocalBindPort,
        Instances: await this.instances(ctx, destNs, u.DestinationName),
      });
    }
    return {
      Service: this.service,
      Namespace: ns,
      Inbound: {
        BindAddress: '0.0.0.0',
        Port: inside(ctx.task.Name),
        LocalServicePort: inside(svc?.PortLabel ?? ''),
      },
      Upstreams: upstreams,
      Material: material,
    };
  }

  private async instances(ctx: TaskHookContext, ns: string, dest: string): Promise<UpstreamConfig['Instances']> {
    const [proxies, dests] = await Promise.all([
      this.opts.rpc.serviceGet!(ns, sidecarServiceName(dest)),
      this.opts.rpc.serviceGet!(ns, dest),
    ]);
    const healthy = new Set(dests.value.filter((r) => r.Status !== 'critical').map((r) => r.AllocID));
    const gateway = ctx.network?.()?.gateway;
    return proxies.value
      .filter((p) => healthy.has(p.AllocID))
      .map((p) => ({ Address: p.Address.startsWith('127.') && gateway ? gateway : p.Address, Port: p.Port }))
      .sort((a, b) => a.Address.localeCompare(b.Address) || a.Port - b.Port);
  }

  private async writeConfig(ctx: TaskHookContext, starting = false): Promise<void> {
    const cfg = await this.config(ctx);
    const text = JSON.stringify(cfg);
    if (text === this.last) return;
    if (this.opts.dataPlane === 'haproxy') {
      const dir = join(ctx.dirs.secretsDir, HAPROXY_SIDECAR_CONFIG_PATH[0]);
      this.haproxy ??= new HaproxySidecar(dir, ctx.dirs.dir, ctx.logger);
      // Before the start: the files HAProxy starts from. After it (or after an agent restart): the runtime API.
      if (starting) this.haproxy.prepare(cfg);
      else await this.haproxy.apply(cfg, ctx.signal);
      this.last = text;
      return;
    }
    // The driver runs HAProxy when its config is there: a sidecar that ran on HAProxy before this client was
    // switched to the Node plane starts on the Node plane now.
    if (starting) rmSync(join(ctx.dirs.secretsDir, HAPROXY_SIDECAR_CONFIG_PATH[0]), { recursive: true, force: true });
    mkdirSync(ctx.dirs.secretsDir, { recursive: true });
    const path = join(ctx.dirs.secretsDir, SIDECAR_CONFIG_FILE);
    writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    this.last = text;
  }

  private async register(ctx: TaskHookContext): Promise<void> {
    const port = taskPorts(ctx.alloc, ctx.task.Name, this.opts.advertiseIP).find((p) => p.label === ctx.task.Name);
    if (!port || !this.opts.rpc.upsertServiceRegistrations) return;
    const node = this.opts.node();
    const name = sidecarServiceName(this.service);
    const reg: ServiceRegistration = {
      ID: `_nomad-task-${ctx.alloc.ID}-${ctx.task.Name}-${name}-${port.value}`,
      ServiceName: name,
      Namespace: ctx.alloc.Namespace || 'default',
      NodeID: node.ID,
      Datacenter: node.Datacenter,
      JobID: ctx.alloc.JobID,
      AllocID: ctx.alloc.ID,
      Tags: null,
      Address: port.hostIP || this.opts.advertiseIP,
      Port: port.value,
      CreateIndex: 0,
      ModifyIndex: 0,
    };
    await this.opts.rpc.upsertServiceRegistrations([reg]);
    this.registered = reg;
  }

  private async deregister(): Promise<void> {
    const reg = this.registered;
    if (!reg || !this.opts.rpc.deleteServiceRegistrations) return;
    this.registered = undefined;
    await this.opts.rpc
      .deleteServiceRegistrations([reg.ID])
      .catch((e: unknown) => this.opts.logger.warn('sidecar deregistration failed', { err: String(e) }));
  }
}
