/**
 * Group networking in bridge mode on the real CNI plugins (containernetworking-plugins in /usr/lib/cni): two
 * tasks of a group share one namespace, mapped ports answer on the host's 127.0.0.1, nothing is left after the
 * job stops, a SIGKILLed agent keeps running allocations' networks and cleans those that ended while it was down,
 * and bad input fails clearly without a half-built namespace. Needs root (namespaces, iptables).
 *
 * Traffic goes only to 127.0.0.1 and to addresses inside the namespaces the test's agent creates. The bridge
 * (drnet0) and subnet (172.26.80.0/24) are this suite's own, so it does not collide with other suites.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestImages, TEST_IMAGES } from '../images/index.js';
import { TestAgent } from './harness/agent.js';
import {
  alloc,
  allocsOf,
  containersOf,
  docker,
  jobFile,
  runJob,
  stopAndClean,
  waitRunning,
} from './fixtures/drivers-support.js';

const BRIDGE = 'drnet0';
const SUBNET_PREFIX = '172.26.80.';
const isRoot = process.getuid?.() === 0;
const haveCNI = existsSync('/usr/lib/cni/bridge') && existsSync('/usr/lib/cni/portmap');

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
const netnsOf = (allocID: string) => `drover-${allocID}`;
const netnsExists = (allocID: string) => existsSync(`/var/run/netns/${netnsOf(allocID)}`);
/** veth ends attached to this suite's bridge. */
const bridgeVeths = () =>
  sh('ip', ['-o', 'link', 'show', 'master', BRIDGE])
    .split('\n')
    .filter((l) => l.includes('veth'))
    .map((l) => l.split(':')[1]!.trim());
/** NAT rules naming the allocation or its address (portmap's standing shared chains name neither). */
const natRulesOf = (a: { id: string; ip: string }) =>
  sh('iptables', ['-t', 'nat', '-S'])
    .split('\n')
    .filter((l) => l.includes(a.id) || l.includes(`${a.ip}/`) || l.includes(`${a.ip}:`));
async function allocAddress(agent: TestAgent, id: string): Promise<{ id: string; ip: string }> {
  const r = await agent.api<{ NetworkStatus?: { Address?: string } }>(`/v1/allocation/${id}`);
  const ip = r.body.NetworkStatus?.Address ?? '';
  expect(ip.startsWith(SUBNET_PREFIX)).toBe(true);
  return { id, ip };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function httpGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  return res.text();
}

// One node process serves both ports; the other task reads the first over 127.0.0.1 and logs what it got.
const SERVER_JS =
  "const h=require('http');" +
  "h.createServer((q,s)=>s.end('web '+process.env.NOMAD_ALLOC_IP_http+'\\n')).listen(8080);" +
  "h.createServer((q,s)=>s.end('admin\\n')).listen(9090)";
const PEER_SH =
  'while true; do curl -s -m 2 http://127.0.0.1:8080/ || echo unreachable; ' +
  'echo "ports $NOMAD_PORT_http $NOMAD_HOST_PORT_http $NOMAD_ALLOC_PORT_admin"; sleep 0.5; done';

const WEB = { command: process.execPath, args: ['-e', SERVER_JS] };
const PEER = { command: '/bin/sh', args: ['-c', PEER_SH] };

// An exec task (runc) joins the same namespace: it reads the web task over 127.0.0.1 with the host's busybox.
const EXEC_PEER = `
    task "exec-peer" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do /usr/bin/busybox wget -q -O- http://127.0.0.1:8080/ | sed 's/^/exec /'; sleep 0.5; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }`;

const bridgeJob = (name: string, staticPort: number, type = 'service', web = WEB, peer = PEER, extra = '') => `
job "${name}" {
  datacenters = ["dc1"]
  type        = "${type}"
  group "g" {
    network {
      mode = "bridge"
      port "http" {
        static = ${staticPort}
        to     = 8080
      }
      port "admin" {
        to = 9090
      }
    }
    task "web" {
      driver = "raw_exec"
      config {
        command = "${web.command}"
        args    = ${JSON.stringify(web.args)}
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
    task "peer" {
      driver = "raw_exec"
      config {
        command = "${peer.command}"
        args    = ${JSON.stringify(peer.args)}
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }${extra}
  }
}
`;

function agentConfig(extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'drover-net-conf-'));
  const path = join(dir, 'agent.hcl');
  writeFileSync(
    path,
    `client {\n  bridge_network_name   = "${BRIDGE}"\n  bridge_network_subnet = "${SUBNET_PREFIX}0/24"\n${extra}}\n`,
  );
  return path;
}

/** After a failure: namespaces the agent did not remove are removed here (their veths go with them). */
function removeNamespaces(allocIDs: Iterable<string>): void {
  for (const id of allocIDs) if (netnsExists(id)) sh('ip', ['netns', 'del', netnsOf(id)]);
}

describe.skipIf(!isRoot || !haveCNI)('bridge networking on CNI (root, containernetworking-plugins)', () => {
  const agent = new TestAgent({ args: ['-config', agentConfig()] });
  const seen = new Set<string>();
  let webAlloc = '';
  let staticPort = 0;

  beforeAll(async () => {
    await agent.start();
  });
  afterAll(async () => {
    await stopAndClean(agent, seen);
    removeNamespaces(seen);
  });

  it('lets raw_exec and exec tasks of a group talk over 127.0.0.1 and maps the static and dynamic ports on the host', async () => {
    staticPort = await freePort();
    runJob(agent, jobFile('web', bridgeJob('web', staticPort, 'service', WEB, PEER, EXEC_PEER)));
    const [a] = await waitRunning(agent, 'web');
    webAlloc = a!.ID;
    seen.add(webAlloc);
    expect(netnsExists(webAlloc)).toBe(true);

    const logs = await agent.waitFor('the peer task reaching the web task', async () => {
      const out = agent.cli(['alloc', 'logs', webAlloc, 'peer']).stdout;
      return out.includes(`web ${SUBNET_PREFIX}`) ? out : null;
    });
    // NOMAD_PORT_* is the port inside the namespace, NOMAD_HOST_PORT_* the host side (Nomad's meanings).
    expect(logs).toContain(`ports 8080 ${staticPort} 9090`);

    const full = (
      await agent.api<{ AllocatedResources: { Shared: { Ports: Array<{ Label: string; Value: number }> } } }>(
        `/v1/allocation/${webAlloc}`,
      )
    ).body;
    const dynPort = full.AllocatedResources.Shared.Ports.find((p) => p.Label === 'admin')!.Value;
    expect(await agent.waitFor('the static port', () => httpGet(`http://127.0.0.1:${staticPort}/`))).toMatch(
      new RegExp(`^web ${SUBNET_PREFIX.replace(/\./g, '\\.')}\\d+`),
    );
    expect(await httpGet(`http://127.0.0.1:${dynPort}/`)).toBe('admin\n');
    await agent.waitFor('the exec task reaching the web task', async () =>
      agent.cli(['alloc', 'logs', webAlloc, 'exec-peer']).stdout.includes(`exec web ${SUBNET_PREFIX}`),
    );

    // alloc status shows the allocation's address and where each host port leads.
    const { ip } = await allocAddress(agent, webAlloc);
    const status = agent.cli(['alloc', 'status', webAlloc]).stdout;
    expect(status).toMatch(new RegExp(`Network\\s+= bridge, address ${ip.replace(/\./g, '\\.')}`));
    expect(status).toContain(`127.0.0.1:${staticPort} -> ${ip}:8080`);
    expect(status).toContain(`127.0.0.1:${dynPort} -> ${ip}:9090`);
  });

  it('keeps running allocations networked across a SIGKILL and cleans one that ended while it was down', async () => {
    // A batch allocation whose tasks end while the agent is down: its namespace must go once the agent is back.
    const shortPort = await freePort();
    const sleeper = { command: '/bin/sleep', args: ['6'] };
    runJob(agent, jobFile('short', bridgeJob('short', shortPort, 'batch', sleeper, sleeper)));
    const [s] = await waitRunning(agent, 'short');
    seen.add(s!.ID);
    const shortAddr = await agent.waitFor('the address of the short allocation', () => allocAddress(agent, s!.ID));
    expect(natRulesOf(shortAddr).length).toBeGreaterThan(0);
    expect(netnsExists(s!.ID)).toBe(true);
    const vethsBefore = bridgeVeths();
    expect(vethsBefore).toHaveLength(2);

    await agent.kill();
    // The batch allocation's tasks finish while no agent watches.
    await expect
      .poll(() => sh('ip', ['netns', 'pids', netnsOf(s!.ID)]).trim(), { timeout: 20_000, interval: 250 })
      .toBe('');

    await agent.start();
    await agent.waitFor('the ended allocation to be complete or failed', async () => {
      const st = (await alloc(agent, s!.ID)).ClientStatus;
      return st === 'complete' || st === 'failed';
    });
    await expect.poll(() => netnsExists(s!.ID), { timeout: 30_000 }).toBe(false);
    expect(natRulesOf(shortAddr)).toEqual([]);
    await expect.poll(() => bridgeVeths().length, { timeout: 10_000 }).toBe(1);

    // The running allocation kept its namespace, its veth and its mapping, and was not started again.
    expect(netnsExists(webAlloc)).toBe(true);
    expect(vethsBefore).toContain(bridgeVeths()[0]);
    expect(await httpGet(`http://127.0.0.1:${staticPort}/`)).toMatch(/^web /);
    const started = (await alloc(agent, webAlloc)).TaskStates?.web?.Events.filter((e) => e.Type === 'Started');
    expect(started).toHaveLength(1);
  });

  it('leaves no namespace, veth or NAT rule behind once the job stops', async () => {
    const addr = await allocAddress(agent, webAlloc);
    expect(natRulesOf(addr).length).toBeGreaterThan(0);
    const r = agent.cli(['job', 'stop', 'web']);
    expect(r.code, r.stderr).toBe(0);
    await expect.poll(() => netnsExists(webAlloc), { timeout: 30_000 }).toBe(false);
    expect(bridgeVeths()).toEqual([]);
    expect(natRulesOf(addr)).toEqual([]);
  });

  it('gives a group in mode "none" a namespace with loopback only, removed when the job stops', async () => {
    const file = jobFile(
      'isolated',
      `job "isolated" {
  datacenters = ["dc1"]
  group "g" {
    network {
      mode = "none"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "ip -o link; echo listed; exec sleep 600"]
      }
    }
  }
}
`,
    );
    runJob(agent, file);
    const [a] = await waitRunning(agent, 'isolated');
    seen.add(a!.ID);
    const out = await agent.waitFor('the link list', async () => {
      const o = agent.cli(['alloc', 'logs', a!.ID, 't']).stdout;
      return o.includes('listed') ? o : null;
    });
    const links = out
      .split('\n')
      .filter((l) => /^\d+: /.test(l))
      .map((l) => l.split(':')[1]!.trim());
    expect(links).toEqual(['lo']);
    expect(netnsExists(a!.ID)).toBe(true);
    expect(agent.cli(['job', 'stop', 'isolated']).code).toBe(0);
    await expect.poll(() => netnsExists(a!.ID), { timeout: 30_000 }).toBe(false);
  });

  it('refuses `to` on a group that is not in bridge mode, naming the port', () => {
    const file = jobFile(
      'hostto',
      `job "hostto" {
  datacenters = ["dc1"]
  group "g" {
    network {
      port "http" {
        to = 8080
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
    }
  }
}
`,
    );
    const r = agent.cli(['job', 'run', '-detach', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toContain('`to` needs mode = "bridge"');
  });
});

describe.skipIf(!isRoot || !haveCNI)('bridge networking refuses bad set-ups', () => {
  it('refuses to start an agent whose bridge subnet overlaps a host network', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'drover-net-conf-')), 'agent.hcl');
    writeFileSync(
      path,
      `client {\n  bridge_network_name   = "${BRIDGE}"\n  bridge_network_subnet = "127.0.0.0/24"\n}\n`,
    );
    const agent = new TestAgent({ args: ['-config', path] });
    try {
      await expect(agent.start()).rejects.toThrow(/127\.0\.0\.0\/24 overlaps 127\.0\.0\.1\/8 on host interface "lo"/);
    } finally {
      await agent.stop();
    }
  });

  it('fails the allocation with the missing CNI plugin named and builds no namespace', async () => {
    const emptyBin = mkdtempSync(join(tmpdir(), 'drover-net-nobin-'));
    const agent = new TestAgent({ args: ['-config', agentConfig(`  cni_path = "${emptyBin}"\n`)] });
    const seen = new Set<string>();
    await agent.start();
    try {
      runJob(agent, jobFile('nobin', bridgeJob('nobin', await freePort())));
      const a = await agent.waitFor('the allocation to fail', async () => {
        const [x] = await allocsOf(agent, 'nobin');
        return x?.ClientStatus === 'failed' ? x : null;
      });
      seen.add(a.ID);
      const ev = a.TaskStates?.web?.Events.find((e) => e.Type === 'Setup Failure');
      expect(ev?.DisplayMessage).toContain('CNI plugin "bridge" not found');
      expect(netnsExists(a.ID)).toBe(false);
    } finally {
      await stopAndClean(agent, seen);
      removeNamespaces(seen);
      rmSync(emptyBin, { recursive: true, force: true });
    }
  });
});

// Docker tasks in bridge mode, and DNS from inside. This suite's own bridge (drnet3, 172.26.83.0/24) and agent.
const D_BRIDGE = 'drnet3';
const D_PREFIX = '172.26.83.';
const dockerUp = spawnSync('docker', ['info'], { timeout: 20_000 }).status === 0;

/** What one allocation holds on the host: namespace, veths on the bridge, NAT rules, containers. */
function footprint(a: { id: string; ip: string }) {
  const veths = sh('ip', ['-o', 'link', 'show', 'master', D_BRIDGE])
    .split('\n')
    .filter((l) => l.includes('veth')).length;
  return {
    netns: netnsExists(a.id),
    veths,
    nat: natRulesOf(a),
    containers: containersOf(a.id),
  };
}

const dockerBridgeJob = (staticPort: number) => `
job "dweb" {
  datacenters = ["dc1"]
  group "g" {
    network {
      mode = "bridge"
      port "http" {
        static = ${staticPort}
        to     = 8080
      }
    }
    task "web" {
      driver = "docker"
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", "mkdir -p /tmp/www && echo docker-web > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
    task "exec-peer" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do /usr/bin/busybox wget -q -O- http://127.0.0.1:8080/ | sed 's/^/exec got /'; sleep 0.5; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`;

// A service registered with its allocation address, and a docker client in another group that finds it by name.
const DNS_JOB = `
job "dnsjob" {
  datacenters = ["dc1"]
  group "db" {
    network {
      mode = "bridge"
      port "db" {
        to = 6000
      }
    }
    service {
      name         = "drnet3-db"
      provider     = "nomad"
      port         = "db"
      address_mode = "alloc"
    }
    task "db" {
      driver = "docker"
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", "mkdir -p /tmp/www && echo db-answer > /tmp/www/index.html && exec httpd -f -p 6000 -h /tmp/www"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
  group "app" {
    network {
      mode = "bridge"
      dns {
        searches = ["service.drover"]
        options  = ["ndots:1"]
      }
    }
    task "client" {
      driver = "docker"
      config {
        image   = "${TEST_IMAGES.busybox}"
        command = "/bin/sh"
        args    = ["-c", "while true; do ip=$(nslookup drnet3-db.service.drover 2>/dev/null | awk '/^Address/ && !/#/ {print $NF}' | tail -1); echo \\"resolved [$ip]\\"; [ -n \\"$ip\\" ] && wget -q -O- http://$ip:6000/ | sed 's/^/reached /'; sleep 1; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
`;

describe.skipIf(!isRoot || !haveCNI || !dockerUp)('docker tasks in bridge mode (root, CNI plugins, dockerd)', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'drover-net3-conf-')), 'agent.hcl');
  writeFileSync(
    path,
    `client {\n  bridge_network_name   = "${D_BRIDGE}"\n  bridge_network_subnet = "${D_PREFIX}0/24"\n}\n`,
  );
  const agent = new TestAgent({ args: ['-config', path] });
  const seen = new Set<string>();

  beforeAll(async () => {
    await ensureTestImages();
    await agent.start();
  }, 300_000);
  afterAll(async () => {
    await stopAndClean(agent, seen);
    removeNamespaces(seen);
  });

  it('puts a docker task and an exec task in one namespace, maps the port, survives a SIGKILL, leaves nothing after stop', async () => {
    const staticPort = await freePort();
    runJob(agent, jobFile('dweb', dockerBridgeJob(staticPort)));
    const [a] = await waitRunning(agent, 'dweb');
    seen.add(a!.ID);
    const addr = await agent.waitFor('the allocation address', async () => {
      const r = await agent.api<{ NetworkStatus?: { Address?: string } }>(`/v1/allocation/${a!.ID}`);
      const ip = r.body.NetworkStatus?.Address ?? '';
      return ip.startsWith(D_PREFIX) ? { id: a!.ID, ip } : null;
    });
    // The exec task reads the docker task over the namespace's loopback.
    await agent.waitFor('the exec task reaching the docker task', async () =>
      agent.cli(['alloc', 'logs', a!.ID, 'exec-peer']).stdout.includes('exec got docker-web'),
    );
    expect(await agent.waitFor('the mapped port', () => httpGet(`http://127.0.0.1:${staticPort}/`))).toBe(
      'docker-web\n',
    );
    // The docker task runs in the pause container's namespace, which is the allocation's.
    const pause = docker(['inspect', '-f', '{{.Id}} {{.HostConfig.NetworkMode}}', `drover-pause-${a!.ID}`]);
    const [pauseID, pauseMode] = pause.split(' ');
    expect(pauseMode).toBe('none');
    const modes = containersOf(a!.ID).map((c) => docker(['inspect', '-f', '{{.HostConfig.NetworkMode}}', c]));
    expect(modes.filter((m) => m === `container:${pauseID}`)).toHaveLength(1);
    const during = footprint(addr);
    expect(during.netns).toBe(true);
    expect(during.veths).toBe(1);
    expect(during.nat.length).toBeGreaterThan(0);

    // A SIGKILLed agent adopts the pause container and the namespace: same container, port still mapped.
    await agent.kill();
    await agent.start();
    await agent.waitFor('the allocation running again after the restart', async () => {
      const x = await alloc(agent, a!.ID);
      return x.ClientStatus === 'running';
    });
    expect(docker(['inspect', '-f', '{{.Id}}', `drover-pause-${a!.ID}`])).toBe(pauseID);
    expect(await httpGet(`http://127.0.0.1:${staticPort}/`)).toBe('docker-web\n');
    expect(footprint(addr)).toEqual(during);

    expect(agent.cli(['job', 'stop', 'dweb']).code).toBe(0);
    await expect
      .poll(() => footprint(addr), { timeout: 60_000, interval: 500 })
      .toEqual({
        netns: false,
        veths: 0,
        nat: [],
        containers: [],
      });
  });

  it('lets a task in bridge mode resolve a service by name through the agent DNS and reach it', async () => {
    runJob(agent, jobFile('dnsjob', DNS_JOB));
    const allocs = await waitRunning(agent, 'dnsjob', 2);
    for (const x of allocs) seen.add(x.ID);
    const db = allocs.find((x) => x.TaskGroup === 'db')!;
    const app = allocs.find((x) => x.TaskGroup === 'app')!;
    const dbAddr = await allocAddressIn(agent, db.ID, D_PREFIX);
    const out = await agent.waitFor('the client resolving and reaching the db', async () => {
      const o = agent.cli(['alloc', 'logs', app.ID, 'client']).stdout;
      return o.includes('reached db-answer') ? o : null;
    });
    expect(out).toContain(`resolved [${dbAddr}]`);
    // The group's dns block is in the allocation's resolv.conf, with the agent's DNS on the bridge gateway.
    const st = await agent.api<{
      NetworkStatus?: { DNS?: { Servers: string[]; Searches: string[]; Options: string[] } };
    }>(`/v1/allocation/${app.ID}`);
    expect(st.body.NetworkStatus?.DNS).toEqual({
      Servers: [`${D_PREFIX}1`],
      Searches: ['service.drover'],
      Options: ['ndots:1'],
    });
    expect(agent.cli(['job', 'stop', 'dnsjob']).code).toBe(0);
  });
});

async function allocAddressIn(agent: TestAgent, id: string, prefix: string): Promise<string> {
  return agent.waitFor('the allocation address', async () => {
    const r = await agent.api<{ NetworkStatus?: { Address?: string } }>(`/v1/allocation/${id}`);
    const ip = r.body.NetworkStatus?.Address ?? '';
    return ip.startsWith(prefix) ? ip : null;
  });
}
