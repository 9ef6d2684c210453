import { afterAll, describe, expect, it } from 'vitest';
import { conformanceTask } from '../testing/index.js';
import type { TaskConfig } from '../types.js';
import {
  containerCreateBody,
  memoryLimits,
  normalizeImage,
  registryAuthHeader,
  validateDockerConfig,
  CONTAINER_LABELS,
} from './config.js';
import { DockerDriver } from './driver.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = mkdtempSync(join(tmpdir(), 'drover-docker-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function task(config: Record<string, unknown>): TaskConfig {
  const t = conformanceTask(root, 'web');
  t.config = { image: 'drover-test/busybox:latest', ...config };
  t.ports = [
    { label: 'http', value: 23456, to: 8080, hostIP: '127.0.0.1' },
    { label: 'admin', value: 23457, to: 0, hostIP: '127.0.0.1' },
  ];
  return t;
}

type Body = { HostConfig: Record<string, unknown> } & Record<string, unknown>;
const body = (t: TaskConfig, opts = {}) => containerCreateBody(t, String(t.config.image), opts) as Body;

describe('docker config → container create body', () => {
  it('refuses a task network_mode in a bridge group before asking the daemon anything', async () => {
    const t = task({ network_mode: 'host' });
    t.networkMode = 'bridge';
    t.netnsPath = '/var/run/netns/drover-alloc1';
    const driver = new DockerDriver({ socketPath: join(root, 'no-daemon.sock') });
    await expect(driver.startTask(t)).rejects.toThrow(
      'network_mode cannot be set on a docker task of a group in network mode "bridge"',
    );
  });

  it('joins the pause container of a group in bridge mode, publishes nothing and mounts the alloc resolv.conf', () => {
    const t = task({ ports: ['http'], hostname: 'web', dns_servers: ['1.1.1.1'], extra_hosts: ['a:10.0.0.1'] });
    t.networkMode = 'bridge';
    t.netnsPath = '/var/run/netns/drover-alloc1';
    t.resolvConfPath = '/data/net/alloc1.resolv.conf';
    const b = body(t);
    expect(b.HostConfig.NetworkMode).toBe(`container:drover-pause-${t.allocID}`);
    expect(b.HostConfig.PortBindings).toEqual({});
    expect(b.ExposedPorts).toEqual({});
    // Docker refuses these on a container that joins another's network.
    expect(b.Hostname).toBeUndefined();
    expect(b.HostConfig).not.toHaveProperty('Dns');
    expect(b.HostConfig).not.toHaveProperty('ExtraHosts');
    expect(b.HostConfig.Binds).toContain('/data/net/alloc1.resolv.conf:/etc/resolv.conf:ro');
  });

  it('publishes the listed group ports on the client’s host IP, mapped to `to` or the same port', () => {
    const b = body(task({ ports: ['http', 'admin'] }));
    expect(b.HostConfig.PortBindings).toMatchObject({
      '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '23456' }],
      '23457/tcp': [{ HostIp: '127.0.0.1', HostPort: '23457' }],
    });
    expect(b.ExposedPorts).toHaveProperty('8080/tcp');
  });

  it('maps legacy port_map labels to their container ports', () => {
    const b = body(task({ port_map: [{ http: 9000 }] }));
    expect(b.HostConfig.PortBindings).toEqual({
      '9000/tcp': [{ HostIp: '127.0.0.1', HostPort: '23456' }],
      '9000/udp': [{ HostIp: '127.0.0.1', HostPort: '23456' }],
    });
  });

  it('publishes nothing in host network mode', () => {
    const b = body(task({ ports: ['http'], network_mode: 'host' }));
    expect(b.HostConfig.NetworkMode).toBe('host');
    expect(b.HostConfig.PortBindings).toEqual({});
  });

  it('refuses a port label the group network does not define', () => {
    expect(() => body(task({ ports: ['nope'] }))).toThrow(/port "nope"/);
  });

  it('mounts the alloc, local and secrets dirs and points NOMAD_*_DIR at them', () => {
    const t = task({});
    const b = body(t);
    expect(b.HostConfig.Binds).toEqual([
      `${t.dirs.sharedAllocDir}:/alloc`,
      `${t.dirs.localDir}:/local`,
      `${t.dirs.secretsDir}:/secrets`,
    ]);
    expect(b.Env).toEqual(
      expect.arrayContaining(['NOMAD_ALLOC_DIR=/alloc', 'NOMAD_TASK_DIR=/local', 'NOMAD_SECRETS_DIR=/secrets']),
    );
  });

  it('resolves relative volumes against the task dir and refuses ones that leave the alloc dir', () => {
    const t = task({ volumes: ['local/conf:/etc/app:ro', '../alloc/data:/data'] });
    expect(body(t).HostConfig.Binds).toEqual(
      expect.arrayContaining([`${t.dirs.dir}/local/conf:/etc/app:ro`, `${t.dirs.sharedAllocDir}/data:/data`]),
    );
    expect(() => body(task({ volumes: ['../../../etc:/x'] }))).toThrow(/leaves the allocation directory/);
  });

  it('refuses absolute host paths unless the client allows host volumes', () => {
    expect(() => body(task({ volumes: ['/etc:/host-etc'] }))).toThrow(/absolute host paths are not allowed/);
    expect(body(task({ volumes: ['/etc:/host-etc'] }), { allowHostVolumes: true }).HostConfig.Binds).toContain(
      '/etc:/host-etc',
    );
    expect(() => body(task({ mounts: [{ type: 'bind', source: '/root', target: '/r' }] }))).toThrow(/absolute/);
  });

  it('refuses privileged unless the client allows it', () => {
    expect(validateDockerConfig({ image: 'x', privileged: true })).toEqual([expect.stringMatching(/privileged/)]);
    expect(validateDockerConfig({ image: 'x', privileged: true }, { allowPrivileged: true })).toEqual([]);
  });

  it('names every problem: missing image, unknown keys, bad ulimit and volume', () => {
    const p = validateDockerConfig({ imag: 'x', ulimit: { nofile: 'lots' }, volumes: ['nocolon'] });
    expect(p).toHaveLength(4);
    expect(p.join('\n')).toMatch(/image is required[\s\S]*imag[\s\S]*volume "nocolon"[\s\S]*ulimit nofile/);
  });

  it('sets MemoryMB as the hard limit, or memory_max as the limit with MemoryMB reserved', () => {
    const t = task({});
    t.resources.memoryMB = 64;
    expect(memoryLimits(t)).toEqual({ Memory: 64 << 20, MemorySwap: 64 << 20 });
    t.resources.memoryMaxMB = 256;
    expect(memoryLimits(t)).toEqual({ Memory: 256 << 20, MemoryReservation: 64 << 20, MemorySwap: 256 << 20 });
    t.resources.memoryMaxMB = 0;
    t.config.memory_hard_limit = 128;
    expect(memoryLimits(t)).toMatchObject({ Memory: 128 << 20, MemoryReservation: 64 << 20 });
  });

  it('uses CPU MHz as cpu shares and the reserved cores as the cpuset', () => {
    const t = task({});
    t.resources.cpuShares = 500;
    t.env.NOMAD_CPU_CORES = '2-3';
    const b = body(t);
    expect(b.HostConfig.CpuShares).toBe(500);
    expect(b.HostConfig.CpusetCpus).toBe('2-3');
  });

  it('builds the command from command + args, and labels the container for recovery', () => {
    const t = task({ command: '/bin/sh', args: ['-c', 'true'], labels: [{ team: 'a' }, { tier: 'web' }] });
    const b = body(t);
    expect(b.Cmd).toEqual(['/bin/sh', '-c', 'true']);
    expect(b.Labels).toMatchObject({
      team: 'a',
      tier: 'web',
      [CONTAINER_LABELS.allocID]: t.allocID,
      [CONTAINER_LABELS.drover]: t.id,
    });
  });

  it('translates ulimit, extra_hosts, dns, caps and sysctl to their Docker names', () => {
    const b = body(
      task({
        ulimit: { nofile: '1024:2048' },
        extra_hosts: ['db:10.0.0.1'],
        dns_servers: ['1.1.1.1'],
        cap_drop: ['NET_RAW'],
        sysctl: { 'net.core.somaxconn': '512' },
      }),
    );
    expect(b.HostConfig).toMatchObject({
      Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
      ExtraHosts: ['db:10.0.0.1'],
      Dns: ['1.1.1.1'],
      CapDrop: ['NET_RAW'],
      Sysctls: { 'net.core.somaxconn': '512' },
    });
  });

  it('adds :latest to untagged images, keeping registry ports and digests', () => {
    expect(normalizeImage('redis')).toBe('redis:latest');
    expect(normalizeImage('reg:5000/a/b')).toBe('reg:5000/a/b:latest');
    expect(normalizeImage('reg:5000/a/b:1')).toBe('reg:5000/a/b:1');
    expect(normalizeImage('a@sha256:abc')).toBe('a@sha256:abc');
  });
});

describe('registryAuthHeader', () => {
  it('encodes the auth block as padded URL-safe base64 JSON, which Go URLEncoding decodes for every length', () => {
    for (const password of ['s3cret', 'wrong', 'abc', 'p+/?>~~']) {
      const h = registryAuthHeader([{ username: 'drover', password, server_address: '127.0.0.1:5000' }])!;
      expect(h).toMatch(/^[A-Za-z0-9_-]*={0,2}$/);
      expect(h.length % 4).toBe(0);
      expect(JSON.parse(Buffer.from(h, 'base64url').toString('utf8'))).toMatchObject({
        username: 'drover',
        password,
        serveraddress: '127.0.0.1:5000',
      });
    }
    expect(registryAuthHeader(undefined)).toBeUndefined();
  });
});
