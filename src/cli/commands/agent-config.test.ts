import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../agent/index.js';
import { buildAgentConfig, fromNomadConfig } from './agent-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-agent-cfg-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Stand-ins for the agent module's defaults and merge, so the test does not load the agent. */
const mod = {
  defaultConfig: (dev: boolean) =>
    ({
      dev,
      dataDir: '.d',
      bindAddr: '127.0.0.1',
      ports: { http: 4646, dns: 8600 },
      client: { enabled: dev, servers: [] as string[], nodeClass: '' },
    }) as unknown as AgentConfig,
  mergeConfig<T>(base: T, over: unknown): T {
    const merge = (b: unknown, o: unknown): unknown => {
      if (
        typeof b !== 'object' ||
        b === null ||
        Array.isArray(b) ||
        typeof o !== 'object' ||
        o === null ||
        Array.isArray(o)
      )
        return o;
      const out: Record<string, unknown> = { ...(b as Record<string, unknown>) };
      for (const [k, v] of Object.entries(o)) out[k] = k in out ? merge(out[k], v) : v;
      return out;
    };
    return merge(base, over) as T;
  },
};

describe('agent configuration', () => {
  it("maps Nomad's agent config keys, including repeated blocks as lists", () => {
    expect(
      fromNomadConfig({
        data_dir: '/var/d',
        bind_addr: '0.0.0.0',
        log_level: 'DEBUG',
        ports: { http: 5646 },
        client: [{ enabled: true, servers: ['10.0.0.1:4647'], node_class: 'gpu' }],
        plugin: [{ raw_exec: [{ config: [{ enabled: true }] }] }],
      }),
    ).toEqual({
      dataDir: '/var/d',
      bindAddr: '0.0.0.0',
      logLevel: 'debug',
      ports: { http: 5646 },
      client: { enabled: true, servers: ['10.0.0.1:4647'], nodeClass: 'gpu' },
      plugins: { raw_exec: { config: { enabled: true } } },
    });
  });

  it('reads the dns block: enabled and domain, its port as ports.dns, and -dns-port over both', async () => {
    const f = join(dir, 'dns.hcl');
    await writeFile(f, 'dns {\n  enabled = true\n  port = 8653\n  domain = "consul"\n}\n');
    const fromFile = (await buildAgentConfig({ dev: false, configFiles: [f] }, mod)) as unknown as Record<
      string,
      unknown
    >;
    expect(fromFile).toMatchObject({ ports: { http: 4646, dns: 8653 }, dns: { enabled: true, domain: 'consul' } });
    const flagged = (await buildAgentConfig({ dev: false, configFiles: [f], dnsPort: 0 }, mod)) as unknown as Record<
      string,
      unknown
    >;
    expect(flagged).toMatchObject({ ports: { dns: 0 } });
  });

  it('applies defaults, then config files in order, then flags', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    await writeFile(a, JSON.stringify({ data_dir: '/from/a', ports: { http: 1111 } }));
    await writeFile(b, JSON.stringify({ ports: { http: 2222 }, client: { node_class: 'web' } }));
    const cfg = (await buildAgentConfig(
      { dev: true, configFiles: [a, b], bindAddr: '127.0.0.2' },
      mod,
    )) as unknown as Record<string, unknown>;
    expect(cfg).toMatchObject({
      dev: true,
      dataDir: '/from/a',
      bindAddr: '127.0.0.2',
      ports: { http: 2222, dns: 8600 },
      client: { enabled: true, nodeClass: 'web' },
    });
  });

  it('reads the client block of an HCL config file: host volumes, port range, reservations, class, meta, plugins', async () => {
    const f = join(dir, 'client.hcl');
    await writeFile(
      f,
      `client {
  enabled          = true
  node_class       = "batch"
  min_dynamic_port = 21000
  max_dynamic_port = 21999
  meta {
    rack = "r7"
  }
  reserved {
    cpu            = 500
    memory         = 256
    disk           = 1024
    reserved_ports = "22,8000-8100"
  }
  host_volume "certs" {
    path      = "/etc/ssl/certs"
    read_only = true
  }
  host_volume "data" {
    path = "/srv/data"
  }
}
plugin "raw_exec" {
  config {
    enabled = false
  }
}
plugin "docker" {
  config {
    allow_privileged = true
    volumes {
      enabled = true
    }
  }
}
`,
    );
    const cfg = (await buildAgentConfig({ dev: false, configFiles: [f] }, mod)) as unknown as AgentConfig;
    expect(cfg.client).toMatchObject({
      enabled: true,
      nodeClass: 'batch',
      minDynamicPort: 21000,
      maxDynamicPort: 21999,
      meta: { rack: 'r7' },
      reserved: { cpu: 500, memory: 256, disk: 1024, reservedPorts: '22,8000-8100' },
      hostVolumes: { certs: { path: '/etc/ssl/certs', readOnly: true }, data: { path: '/srv/data', readOnly: false } },
    });
    expect(cfg.plugins.raw_exec).toEqual({ config: { enabled: false } });
    expect(cfg.plugins.docker!.config).toMatchObject({ allow_privileged: true, volumes: [{ enabled: true }] });
  });

  it("reads client.artifact's limits as Nomad writes them, and refuses a size or duration it cannot read", async () => {
    const f = join(dir, 'artifact.hcl');
    await writeFile(
      f,
      `client {
  artifact {
    http_read_timeout              = "90s"
    http_max_size                  = "512MiB"
    decompression_size_limit       = "2GB"
    decompression_file_count_limit = 100
  }
}
`,
    );
    const cfg = (await buildAgentConfig({ dev: true, configFiles: [f] }, mod)) as unknown as AgentConfig;
    expect(cfg.client.artifact).toEqual({
      httpReadTimeoutMs: 90_000,
      httpMaxBytes: 512 * 1024 * 1024,
      decompressionMaxBytes: 2e9,
      decompressionMaxFiles: 100,
    });
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ client: { artifact: [{ http_max_size: 'lots' }] } }));
    await expect(buildAgentConfig({ dev: true, configFiles: [bad] }, mod)).rejects.toThrow(
      'client.artifact.http_max_size must be a size such as "100GB", got "lots"',
    );
    const git = join(dir, 'git.hcl');
    await writeFile(git, 'client {\n  artifact {\n    git_timeout = "1m"\n  }\n}\n');
    await expect(buildAgentConfig({ dev: true, configFiles: [git] }, mod)).rejects.toThrow(
      /git_timeout.*not supported/s,
    );
  });

  it('refuses a host volume without an absolute path and an inverted dynamic port range', async () => {
    const rel = join(dir, 'rel.json');
    await writeFile(rel, JSON.stringify({ client: { host_volume: [{ data: [{ path: 'srv/data' }] }] } }));
    await expect(buildAgentConfig({ dev: true, configFiles: [rel] }, mod)).rejects.toThrow(
      'host_volume "data" needs an absolute path',
    );
    const inverted = join(dir, 'inv.json');
    await writeFile(inverted, JSON.stringify({ client: { min_dynamic_port: 30000, max_dynamic_port: 20000 } }));
    await expect(buildAgentConfig({ dev: true, configFiles: [inverted] }, mod)).rejects.toThrow(
      'min_dynamic_port 30000 is above max_dynamic_port 20000',
    );
  });

  it("reads the server block's heartbeat settings under Nomad's names, as milliseconds", async () => {
    const f = join(dir, 'server.hcl');
    await writeFile(
      f,
      `server {\n  enabled = true\n  min_heartbeat_ttl = "2s"\n  heartbeat_grace = "1500ms"\n  max_heartbeats_per_second = 25\n}\n`,
    );
    const cfg = (await buildAgentConfig({ dev: false, configFiles: [f] }, mod)) as unknown as AgentConfig;
    expect(cfg.server).toEqual({
      enabled: true,
      minHeartbeatTTLms: 2000,
      heartbeatGraceMs: 1500,
      maxHeartbeatsPerSecond: 25,
    });
    expect(fromNomadConfig({ server: { heartbeat_grace: 3 } })).toEqual({ server: { heartbeatGraceMs: 3000 } });
  });

  it("reads the gateway's fast_path and refuses a value that is not a boolean", () => {
    expect(fromNomadConfig({ gateway: [{ fast_path: false }] })).toMatchObject({ gateway: { fastPath: false } });
    expect(() => fromNomadConfig({ gateway: { fast_path: 'no' } }, 'a.hcl')).toThrow(
      /a\.hcl: gateway\.fast_path must be true or false, got "no"/,
    );
  });

  it("reads client.connect's sidecar_data_plane and refuses a plane it does not know", () => {
    expect(fromNomadConfig({ client: [{ connect: [{ sidecar_data_plane: 'node' }] }] })).toMatchObject({
      client: { connect: { sidecarDataPlane: 'node' } },
    });
    expect(() => fromNomadConfig({ client: { connect: { sidecar_data_plane: 'envoy' } } }, 'a.hcl')).toThrow(
      'Error loading configuration from a.hcl: client.connect.sidecar_data_plane must be one of auto, node, haproxy, got "envoy"',
    );
  });

  it('reads server.server_join retry_join, retry_interval and retry_max, and refuses an empty list', () => {
    expect(
      fromNomadConfig({ server: [{ server_join: [{ retry_join: ['10.0.0.2:4646'], retry_interval: '5s' }] }] }),
    ).toEqual({ server: { serverJoin: { retryJoin: ['10.0.0.2:4646'], retryIntervalMs: 5000, retryMax: 0 } } });
    expect(fromNomadConfig({ server: { server_join: { retry_join: ['a:1'], retry_max: 3 } } })).toEqual({
      server: { serverJoin: { retryJoin: ['a:1'], retryIntervalMs: 30_000, retryMax: 3 } },
    });
    expect(() => fromNomadConfig({ server: { server_join: { retry_join: [] } } }, 'a.hcl')).toThrow(
      'Error loading configuration from a.hcl: server.server_join.retry_join must be a non-empty list',
    );
    expect(() => fromNomadConfig({ server: { server_join: { retry_join: ['a:1'], retry_max: -1 } } })).toThrow(
      'server.server_join.retry_max must be a whole number',
    );
  });

  it('reads server.eval_gc_threshold as a duration and refuses one that is not', () => {
    expect(fromNomadConfig({ server: { eval_gc_threshold: '30m' } })).toEqual({
      server: { evalGCThresholdMs: 1_800_000 },
    });
    expect(() => fromNomadConfig({ server: { eval_gc_threshold: 'soon' } })).toThrow(
      'server.eval_gc_threshold must be a duration such as "10s", got "soon"',
    );
  });

  it('reads server.autoscaler and refuses an address that is not an http URL', () => {
    expect(
      fromNomadConfig({
        server: {
          autoscaler: [
            {
              enabled: true,
              prometheus_address: 'http://127.0.0.1:9090',
              gateway_metrics: ['http://10.0.0.7:8081/metrics'],
            },
          ],
        },
      }),
    ).toEqual({
      server: {
        autoscaler: {
          enabled: true,
          prometheusAddress: 'http://127.0.0.1:9090',
          gatewayMetrics: ['http://10.0.0.7:8081/metrics'],
        },
      },
    });
    expect(() => fromNomadConfig({ server: { autoscaler: [{ prometheus_address: '127.0.0.1:9090' }] } })).toThrow(
      'server.autoscaler.prometheus_address must be an http(s) URL such as "http://127.0.0.1:9090", got "127.0.0.1:9090"',
    );
    expect(() => fromNomadConfig({ server: { autoscaler: [{ gateway_metrics: 'x' }] } })).toThrow(
      /server\.autoscaler\.gateway_metrics must be a list/,
    );
  });

  it("reads server.sqlite_worker_thread (Drover's own key) and refuses a value that is not a boolean", async () => {
    expect(fromNomadConfig({ server: { sqlite_worker_thread: true } })).toEqual({
      server: { sqliteWorkerThread: true },
    });
    expect(() => fromNomadConfig({ server: { sqlite_worker_thread: 'yes' } })).toThrow(
      'server.sqlite_worker_thread must be true or false, got "yes"',
    );
  });

  it('reads server.etcd endpoints and prefix, and refuses an empty list, a bare host:port or a prefix without slashes', () => {
    expect(
      fromNomadConfig({
        server: [{ etcd: [{ endpoints: ['http://127.0.0.1:2379/', 'http://127.0.0.1:2381'], prefix: '/x/' }] }],
      }),
    ).toEqual({
      server: { etcd: { endpoints: ['http://127.0.0.1:2379', 'http://127.0.0.1:2381'], prefix: '/x/' } },
    });
    expect(() => fromNomadConfig({ server: { etcd: { endpoints: [] } } }, 'a.hcl')).toThrow(
      'a.hcl: server.etcd.endpoints must be a non-empty list',
    );
    expect(() => fromNomadConfig({ server: { etcd: { endpoints: ['127.0.0.1:2379'] } } }, 'a.hcl')).toThrow(
      'etcd endpoint "127.0.0.1:2379" must be an http://host:port client URL',
    );
    expect(() =>
      fromNomadConfig({ server: { etcd: { endpoints: ['http://127.0.0.1:2379'], prefix: 'drover' } } }, 'a.hcl'),
    ).toThrow('server.etcd.prefix must start and end with "/"');
  });

  it('reads the acl and audit blocks of an HCL config file, and refuses an audit sink that is not a file', async () => {
    const f = join(dir, 'acl.hcl');
    await writeFile(
      f,
      'acl {\n  enabled = true\n}\naudit {\n  enabled = true\n  sink "file" {\n    type = "file"\n    path = "/var/log/a.log"\n    rotate_bytes = 1000\n    rotate_max_files = 3\n  }\n}\n',
    );
    const cfg = (await buildAgentConfig({ dev: false, configFiles: [f] }, mod)) as unknown as AgentConfig;
    expect(cfg.acl).toEqual({ enabled: true });
    expect(cfg.audit).toEqual({ enabled: true, path: '/var/log/a.log', rotateBytes: 1000, rotateMaxFiles: 3 });
    expect(() => fromNomadConfig({ audit: { enabled: true, sink: { s: { type: 'syslog' } } } })).toThrow(
      'audit sink type must be "file"',
    );
    expect(() => fromNomadConfig({ audit: { sink: { s: { rotate_bytes: -1 } } } })).toThrow(
      'rotate_bytes must be a non-negative integer',
    );
  });

  it('refuses a heartbeat setting that is not a duration', async () => {
    const f = join(dir, 'bad.json');
    await writeFile(f, JSON.stringify({ server: { min_heartbeat_ttl: 'soon' } }));
    await expect(buildAgentConfig({ dev: false, configFiles: [f] }, mod)).rejects.toThrow(
      'server.min_heartbeat_ttl must be a duration',
    );
    expect(() => fromNomadConfig({ server: { max_heartbeats_per_second: 0 } })).toThrow(
      'max_heartbeats_per_second must be a positive number',
    );
  });

  it('refuses an unknown key naming the file, the line and the block, and lists every such key at once', async () => {
    const f = join(dir, 'bad.hcl');
    await writeFile(f, 'client {\n  enabled = true\n  foo = 1\n}\nbogus = "x"\nplugin "raw_exec" {\n  confg {}\n}\n');
    const err = buildAgentConfig({ dev: false, configFiles: [f] }, mod);
    await expect(err).rejects.toThrow(`${f}:3: unknown key "foo" in client {}`);
    await expect(err).rejects.toThrow(`${f}:5: unknown key "bogus" at the top level`);
    await expect(err).rejects.toThrow(`${f}:7: unknown key "confg" in plugin "raw_exec" {}`);
  });

  it('refuses Nomad keys Drover does not act on as not supported, with the reason, in HCL and JSON', async () => {
    const hcl = join(dir, 'nomad.hcl');
    await writeFile(hcl, 'server {\n  enabled = true\n  bootstrap_expect = 3\n}\nports {\n  rpc = 4647\n}\n');
    const fromHcl = buildAgentConfig({ dev: false, configFiles: [hcl] }, mod);
    await expect(fromHcl).rejects.toThrow(
      new RegExp(
        `${hcl}:3: "bootstrap_expect" in server \\{\\} is not supported: Drover servers form one cluster by sharing etcd`,
      ),
    );
    await expect(fromHcl).rejects.toThrow(`${hcl}:6: "rpc" in ports {} is not supported`);
    const json = join(dir, 'nomad.json');
    await writeFile(json, JSON.stringify({ server: { enabled: true, retry_join: ['a'] } }, null, 2));
    await expect(buildAgentConfig({ dev: false, configFiles: [json] }, mod)).rejects.toThrow(
      `${json}:4: "retry_join" in server {} is not supported`,
    );
  });

  it('reads the gateway HTTPS keys and refuses tls_listen without a certificate and tls without tls_listen', async () => {
    const gw = (g: Record<string, unknown>) => () => fromNomadConfig({ gateway: g }, 'gw.hcl');
    expect(
      fromNomadConfig(
        { gateway: { tls_listen: '127.0.0.1:8443', tls: [{ cert_file: '/c.pem', key_file: '/k.pem' }] } },
        'gw.hcl',
      ),
    ).toMatchObject({ gateway: { tlsListen: '127.0.0.1:8443', tls: { certFile: '/c.pem', keyFile: '/k.pem' } } });
    expect(gw({ tls_listen: '127.0.0.1:8443' })).toThrow(
      'Error loading configuration from gw.hcl: gateway.tls_listen needs a tls { cert_file key_file } block',
    );
    expect(gw({ tls: { cert_file: 'c', key_file: 'k' } })).toThrow('gateway.tls needs gateway.tls_listen');
    expect(gw({ tls_listen: ':8443', tls: { cert_file: '/c.pem' } })).toThrow(
      'gateway.tls.key_file must be a non-empty string, got undefined',
    );
  });

  it('reads gateway acme { } and names each bad key', async () => {
    const f = join(dir, 'acme.hcl');
    await writeFile(
      f,
      [
        'gateway {',
        '  tls_listen = "127.0.0.1:8443"',
        '  tls {\n    cert_file = "/c.pem"\n    key_file = "/k.pem"\n  }',
        '  acme {',
        '    directory    = "https://127.0.0.1:14000/dir"',
        '    email        = "ops@example.com"',
        '    ca_file      = "/pebble.pem"',
        '    domains      = ["shop.example.com"]',
        '    renew_before = "48h"',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect((await buildAgentConfig({ dev: false, configFiles: [f] }, mod)).gateway.acme).toEqual({
      directory: 'https://127.0.0.1:14000/dir',
      email: 'ops@example.com',
      caFile: '/pebble.pem',
      domains: ['shop.example.com'],
      renewBeforeMs: 48 * 3_600_000,
    });
    const tls = { tls_listen: ':8443', tls: { cert_file: '/c.pem', key_file: '/k.pem' } };
    const gw = (g: Record<string, unknown>) => () => fromNomadConfig({ gateway: g }, 'gw.hcl');
    expect(gw({ acme: { directory: 'https://ca/dir' } })).toThrow('gateway.acme needs gateway.tls_listen');
    expect(gw({ ...tls, acme: {} })).toThrow('gateway.acme.directory must be a non-empty string, got undefined');
    expect(gw({ ...tls, acme: { directory: 'ca.example/dir' } })).toThrow(
      'gateway.acme.directory must be an http(s) URL of an ACME directory, got "ca.example/dir"',
    );
    expect(gw({ ...tls, acme: { directory: 'https://ca/dir', domains: 'shop' } })).toThrow(
      'gateway.acme.domains must be a list of host names, got "shop"',
    );
    expect(gw({ ...tls, acme: { directory: 'https://ca/dir', renew_before: 'soon' } })).toThrow(
      'gateway.acme.renew_before must be a duration such as "720h", got "soon"',
    );
  });

  it('accepts every key Drover acts on, and the Nomad keys that are harmless to ignore', async () => {
    const f = join(dir, 'full.hcl');
    await writeFile(
      f,
      [
        'data_dir = "/tmp/d"',
        'bind_addr = "127.0.0.1"',
        'region = "global"',
        'datacenter = "dc1"',
        'name = "n1"',
        'log_level = "INFO"',
        'disable_update_check = true',
        'ports {\n  http = 4646\n  dns = 8600\n}',
        'dns {\n  enabled = true\n  port = 8600\n  domain = "drover"\n}',
        'server {\n  enabled = true\n  num_schedulers = 2\n  min_heartbeat_ttl = "2s"\n  heartbeat_grace = "1s"',
        '  max_heartbeats_per_second = 50\n  sqlite_worker_thread = false\n  sqlite_synchronous = "full"',
        '  etcd {\n    endpoints = ["http://127.0.0.1:2379"]\n    prefix = "/d/"\n  }',
        '  server_join {\n    retry_join = ["127.0.0.1:4647"]\n    retry_interval = "5s"\n    retry_max = 1\n  }\n}',
        'client {\n  enabled = true\n  servers = ["127.0.0.1:4646"]\n  node_class = "c"\n  node_pool = "default"',
        '  meta {\n    anything = "goes"\n  }\n  network_interface_ip = "127.0.0.1"',
        '  host_volume "v" {\n    path = "/srv"\n    read_only = true\n  }',
        '  min_dynamic_port = 20000\n  max_dynamic_port = 21000',
        '  reserved {\n    cpu = 1\n    memory = 1\n    disk = 1\n    reserved_ports = "22"\n  }',
        '  artifact {\n    http_read_timeout = "30m"\n    http_max_size = "100GB"\n    decompression_size_limit = "1GB"',
        '    decompression_file_count_limit = 4096\n  }\n}',
        'gateway {\n  enabled = false\n  listen = "127.0.0.1:0"\n  admin = "127.0.0.1:0"\n  lb = "least_conn"',
        '  data_plane = "node"\n  tcp_ports = "5432,10000-20000"\n  tls_listen = "127.0.0.1:0"\n  tls {\n    cert_file = "c.pem"\n    key_file = "k.pem"\n  }',
        '}',
        'limits {\n  http_max_conns_per_client = 0\n  http_header_timeout = "5s"\n  http_body_timeout = "5s"\n}',
        'acl {\n  enabled = false\n}',
        'audit {\n  enabled = false\n  sink "f" {\n    type = "file"\n    path = "a.log"',
        '    rotate_bytes = 1\n    rotate_max_files = 1\n  }\n}',
        'tls {\n  http = false\n  rpc = false\n  ca_file = ""\n  cert_file = ""\n  key_file = ""',
        '  verify_server_hostname = false\n  verify_https_client = false\n}',
        'plugin "docker" {\n  config {\n    allow_privileged = true\n  }\n}',
        '',
      ].join('\n'),
    );
    await expect(buildAgentConfig({ dev: false, configFiles: [f] }, mod)).resolves.toMatchObject({
      client: { nodeClass: 'c' },
      gateway: { tcpPorts: '5432,10000-20000' },
    });
  });

  it('refuses a gateway.tcp_ports that is not a list of ports and ranges', async () => {
    const f = join(dir, 'tcp-ports.hcl');
    await writeFile(f, 'gateway {\n  tcp_ports = "22-10"\n}\n');
    await expect(buildAgentConfig({ dev: false, configFiles: [f] }, mod)).rejects.toThrow(
      'gateway.tcp_ports expects ports and ranges between 1 and 65535 such as "5432,10000-20000", got "22-10"',
    );
  });

  it('refuses config files that are neither HCL nor JSON', async () => {
    await expect(buildAgentConfig({ dev: true, configFiles: [join(dir, 'agent.yaml')] }, mod)).rejects.toThrow(
      'expected a .hcl or .json file',
    );
  });
});
