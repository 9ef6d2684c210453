/**
 * Fingerprinting: what this node is (cpu, memory, os, kernel, network, drivers), in the attribute names Nomad
 * uses, so job constraints written for Nomad (`${attr.kernel.name}`, `${attr.cpu.numcores}`) work unchanged.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import type { DriverInfo, Node, NodeReservedResources, NodeResources } from '../structs/index.js';
import type { TaskDriver } from '../drivers/index.js';

/** Drover's version, reported as `nomad.version`. */
export const CLIENT_VERSION = '0.1.0';

export interface HostFacts {
  cores: number;
  mhz: number;
  modelName: string;
  memoryBytes: number;
  diskMB: number;
  osName: string;
  osVersion: string;
  kernelName: string;
  kernelVersion: string;
  arch: string;
  hostname: string;
}

const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

/** Reads the host; every source has a fallback, so it works in containers and on odd kernels. */
export function hostFacts(dataDir: string, cpuinfo = '/proc/cpuinfo', osRelease = '/etc/os-release'): HostFacts {
  const cpus = os.cpus();
  let mhz = 0;
  let modelName = cpus[0]?.model ?? '';
  try {
    const text = readFileSync(cpuinfo, 'utf8');
    const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
    if (m) mhz = Math.round(Number(m[1]));
    const name = /^model name\s*:\s*(.+)$/m.exec(text)?.[1];
    if (name !== undefined) modelName = name.trim();
  } catch {
    // not Linux, or /proc hidden
  }
  if (!mhz) mhz = cpus[0]?.speed || 1000;
  let osName = os.platform() as string;
  let osVersion = '';
  try {
    const text = readFileSync(osRelease, 'utf8');
    osName = /^ID="?([^"\n]*)"?/m.exec(text)?.[1] ?? osName;
    osVersion = /^VERSION_ID="?([^"\n]*)"?/m.exec(text)?.[1] ?? '';
  } catch {
    // keep the platform name
  }
  let diskMB: number;
  try {
    const s = statfsSync(existsSync(dataDir) ? dataDir : dirname(dataDir));
    diskMB = Math.floor((s.bavail * s.bsize) / (1024 * 1024));
  } catch {
    diskMB = 0;
  }
  return {
    cores: Math.max(1, cpus.length || os.availableParallelism()),
    mhz,
    modelName,
    memoryBytes: os.totalmem(),
    diskMB,
    osName,
    osVersion,
    kernelName: os.type().toLowerCase(),
    kernelVersion: os.release(),
    arch: GO_ARCH[os.arch()] ?? os.arch(),
    hostname: os.hostname(),
  };
}

export interface NodeIdentity {
  id: string;
  secretID: string;
}

/** The node ID survives restarts: `<data>/client/node-id` (and its secret beside it). */
export function loadNodeIdentity(dataDir: string): NodeIdentity {
  const dir = join(dataDir, 'client');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const read = (name: string) => {
    const p = join(dir, name);
    if (existsSync(p)) {
      const v = readFileSync(p, 'utf8').trim();
      if (v) return v;
    }
    const v = randomUUID();
    writeFileSync(p, `${v}\n`, { mode: 0o600 });
    return v;
  };
  return { id: read('node-id'), secretID: read('secret-id') };
}

/** Nomad's node attributes for these facts. */
export function hostAttributes(f: HostFacts, advertiseIP: string): Record<string, string> {
  return {
    'cpu.arch': f.arch,
    'cpu.numcores': String(f.cores),
    'cpu.frequency': String(f.mhz),
    'cpu.totalcompute': String(f.cores * f.mhz),
    'cpu.modelname': f.modelName,
    'memory.totalbytes': String(f.memoryBytes),
    'os.name': f.osName,
    'os.version': f.osVersion,
    'kernel.name': f.kernelName,
    'kernel.version': f.kernelVersion,
    'kernel.arch': f.arch,
    arch: f.arch,
    hostname: f.hostname,
    'unique.hostname': f.hostname,
    'unique.network.ip-address': advertiseIP,
    'unique.storage.bytesfree': String(f.diskMB * 1024 * 1024),
    'nomad.version': CLIENT_VERSION,
    'nomad.advertise.address': advertiseIP,
  };
}

export interface DriverFingerprintResult {
  attributes: Record<string, string>;
  drivers: Record<string, DriverInfo>;
}

/** Asks every driver for its fingerprint; a driver that throws is reported unhealthy, not fatal. */
export async function fingerprintDrivers(drivers: TaskDriver[], now: () => number): Promise<DriverFingerprintResult> {
  const attributes: Record<string, string> = {};
  const out: Record<string, DriverInfo> = {};
  for (const d of drivers) {
    let info: DriverInfo;
    try {
      const fp = await d.fingerprint();
      Object.assign(attributes, fp.attributes);
      info = {
        Attributes: fp.attributes,
        Detected: fp.health !== 'undetected',
        Healthy: fp.health === 'healthy',
        HealthDescription: fp.healthDescription,
        UpdateTime: new Date(now()).toISOString(),
      };
    } catch (e) {
      info = {
        Attributes: null,
        Detected: false,
        Healthy: false,
        HealthDescription: `fingerprint failed: ${(e as Error).message}`,
        UpdateTime: new Date(now()).toISOString(),
      };
    }
    out[d.name] = info;
  }
  return { attributes, drivers: out };
}

export interface NodeBuildInput {
  identity: NodeIdentity;
  name: string;
  datacenter: string;
  nodePool: string;
  nodeClass: string;
  meta: Record<string, string>;
  advertiseIP: string;
  httpAddr: string;
  facts: HostFacts;
  drivers: DriverFingerprintResult;
  portRange: { min: number; max: number };
  reservedPorts: string;
  reserved: { cpu: number; memoryMB: number; diskMB: number };
  hostVolumes: Record<string, { path: string; readOnly?: boolean }>;
  now: number;
}

/** The Node the client registers. Driver attributes whose driver is undetected are left out, as in Nomad. */
export function buildNode(i: NodeBuildInput): Node {
  const f = i.facts;
  const resources: NodeResources = {
    Cpu: {
      CpuShares: f.cores * f.mhz,
      TotalCpuCores: f.cores,
      ReservableCpuCores: Array.from({ length: f.cores }, (_, k) => k),
    },
    Memory: { MemoryMB: Math.floor(f.memoryBytes / (1024 * 1024)) },
    Disk: { DiskMB: f.diskMB },
    Networks: [
      {
        Mode: 'host',
        Device: '',
        CIDR: `${i.advertiseIP}/32`,
        IP: i.advertiseIP,
        MBits: 1000,
        ReservedPorts: null,
        DynamicPorts: null,
      },
    ],
    MinDynamicPort: i.portRange.min,
    MaxDynamicPort: i.portRange.max,
  };
  const reserved: NodeReservedResources = {
    Cpu: { CpuShares: i.reserved.cpu },
    Memory: { MemoryMB: i.reserved.memoryMB },
    Disk: { DiskMB: i.reserved.diskMB },
    Networks: { ReservedHostPorts: i.reservedPorts },
  };
  const hostVolumes: Node['HostVolumes'] = {};
  for (const [name, v] of Object.entries(i.hostVolumes))
    hostVolumes[name] = { Path: v.path, ReadOnly: v.readOnly === true };
  return {
    ID: i.identity.id,
    SecretID: i.identity.secretID,
    Datacenter: i.datacenter,
    Name: i.name,
    HTTPAddr: i.httpAddr,
    TLSEnabled: false,
    Attributes: { ...hostAttributes(f, i.advertiseIP), ...i.drivers.attributes },
    NodeResources: resources,
    ReservedResources: reserved,
    Links: null,
    Meta: { ...i.meta },
    NodeClass: i.nodeClass,
    NodePool: i.nodePool,
    DrainStrategy: null,
    SchedulingEligibility: 'eligible',
    Status: 'initializing',
    StatusDescription: '',
    StatusUpdatedAt: Math.floor(i.now / 1000),
    Events: null,
    Drivers: i.drivers.drivers,
    HostVolumes: hostVolumes,
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}
