import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { conformanceTask } from '../testing/index.js';
import { parseFlatKeyed } from './cgroups.js';
import { capabilities, lookupUser, memoryLimit, ociSpec } from './spec.js';

const root = mkdtempSync(join(tmpdir(), 'drover-exec-spec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function spec(memoryMB = 64, memoryMaxMB = 0, netnsPath?: string) {
  const t = conformanceTask(root, 'web');
  if (netnsPath) t.netnsPath = netnsPath;
  t.resources = { cpuShares: 250, memoryMB, memoryMaxMB, cores: 0 };
  t.mounts = [{ hostPath: '/srv/data', taskPath: '/data', readOnly: true }];
  const s = ociSpec(t, {
    chrootEnv: { '/usr': '/usr' },
    user: { uid: 65534, gid: 65534 },
    initPath: '/usr/bin/tini',
    cgroupsPath: '/drover/x',
    args: ['/bin/app', '-v'],
  }) as {
    process: { args: string[]; user: unknown; env: string[] };
    root: { path: string };
    mounts: Array<{ destination: string; source: string; options: string[] }>;
    linux: {
      namespaces: Array<{ type: string; path?: string }>;
      resources: { memory: Record<string, number>; cpu: { shares: number } };
      cgroupsPath: string;
    };
  };
  return { t, s };
}

describe('exec driver OCI spec', () => {
  it('isolates pid, mount, ipc and uts but keeps the host network, as Nomad’s exec does', () => {
    expect(
      spec()
        .s.linux.namespaces.map((n) => n.type)
        .sort(),
    ).toEqual(['ipc', 'mount', 'pid', 'uts']);
  });

  it("joins the allocation's network namespace by its path when the group has one (bridge mode)", () => {
    const ns = spec(64, 0, '/var/run/netns/drover-a1').s.linux.namespaces;
    expect(ns.find((n) => n.type === 'network')).toEqual({ type: 'network', path: '/var/run/netns/drover-a1' });
  });

  it('runs the task under tini as the configured user, in the task dir as root', () => {
    const { t, s } = spec();
    expect(s.process.args).toEqual(['/usr/bin/tini', '-g', '--', '/bin/app', '-v']);
    expect(s.process.user).toEqual({ uid: 65534, gid: 65534 });
    expect(s.root.path).toBe(t.dirs.dir);
    expect(s.process.env).toEqual(
      expect.arrayContaining(['NOMAD_ALLOC_DIR=/alloc', 'NOMAD_TASK_DIR=/local', 'NOMAD_SECRETS_DIR=/secrets']),
    );
  });

  it('mounts chroot_env read-only, the shared alloc dir read-write, and client mounts as asked', () => {
    const { t, s } = spec();
    const byDest = Object.fromEntries(s.mounts.map((m) => [m.destination, m]));
    expect(byDest['/usr']?.options).toContain('ro');
    expect(byDest['/alloc']).toMatchObject({ source: t.dirs.sharedAllocDir });
    expect(byDest['/alloc']?.options).toContain('rw');
    expect(byDest['/data']?.options).toContain('ro');
    expect(byDest['/proc']).toBeDefined();
  });

  it('limits memory to MemoryMB, or to memory_max with MemoryMB reserved, with no extra swap', () => {
    expect(spec(64).s.linux.resources.memory).toEqual({ limit: 64 << 20, swap: 64 << 20 });
    expect(spec(64, 256).s.linux.resources.memory).toEqual({
      limit: 256 << 20,
      swap: 256 << 20,
      reservation: 64 << 20,
    });
    const t = conformanceTask(root, 'm');
    t.resources.memoryMB = 10;
    expect(memoryLimit(t)).toEqual({ limit: 10 << 20 });
  });

  it('uses CPU MHz as cpu shares under its own cgroup', () => {
    const { s } = spec();
    expect(s.linux.resources.cpu.shares).toBe(250);
    expect(s.linux.cgroupsPath).toBe('/drover/x');
  });
});

describe('exec driver config options', () => {
  it('adds and drops capabilities from the default set', () => {
    expect(capabilities({ cap_add: ['sys_time'], cap_drop: ['NET_RAW'] })).toContain('CAP_SYS_TIME');
    expect(capabilities({ cap_drop: ['net_raw'] })).not.toContain('CAP_NET_RAW');
    expect(capabilities({ cap_drop: ['all'], cap_add: ['chown'] })).toEqual(['CAP_CHOWN']);
  });

  it('shares the host pid namespace only when pid_mode is "host", and honours work_dir', () => {
    const t = conformanceTask(root, 'h');
    t.config = { command: '/bin/true', pid_mode: 'host', work_dir: '/local' };
    const s = ociSpec(t, {
      chrootEnv: {},
      user: { uid: 0, gid: 0 },
      initPath: '/usr/bin/tini',
      cgroupsPath: '/d/h',
      args: ['/bin/true'],
    }) as {
      linux: { namespaces: Array<{ type: string }> };
      process: { cwd: string };
    };
    expect(s.linux.namespaces.map((n) => n.type)).not.toContain('pid');
    expect(s.process.cwd).toBe('/local');
  });
});

describe('exec driver helpers', () => {
  it('looks users up by name or number', () => {
    expect(lookupUser('root')).toEqual({ uid: 0, gid: 0 });
    expect(lookupUser('1234:99')).toEqual({ uid: 1234, gid: 99 });
    expect(() => lookupUser('no-such-user-here')).toThrow(/not found/);
  });

  it('reads the OOM kill counter from cgroup v1 memory.oom_control and v2 memory.events', () => {
    expect(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n').oom_kill).toBe(2);
    expect(parseFlatKeyed('low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n').oom_kill).toBe(1);
  });
});
