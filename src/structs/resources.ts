/**
 * Resource shapes shared by jobs, nodes and allocations. Field names are Nomad's JSON names.
 * Durations elsewhere are integer nanoseconds; resources are MHz and MB.
 */

export interface Port {
  Label: string;
  /** Host port. 0 for a dynamic port not yet assigned. */
  Value: number;
  /** Port inside the task's network namespace (docker `to`). 0 means same as Value. */
  To: number;
  HostNetwork: string;
  IgnoreCollision?: boolean;
}

export interface DNSConfig {
  Servers?: string[] | null;
  Searches?: string[] | null;
  Options?: string[] | null;
}

export interface NetworkResource {
  Mode: string;
  Device: string;
  CIDR: string;
  IP: string;
  Hostname?: string;
  MBits?: number;
  DNS?: DNSConfig | null;
  ReservedPorts: Port[] | null;
  DynamicPorts: Port[] | null;
}

export interface RequestedDevice {
  Name: string;
  Count?: number;
  Constraints?: unknown[] | null;
  Affinities?: unknown[] | null;
}

export interface Resources {
  CPU: number;
  Cores?: number;
  MemoryMB: number;
  MemoryMaxMB?: number;
  DiskMB?: number;
  IOPS?: number;
  Networks?: NetworkResource[] | null;
  Devices?: RequestedDevice[] | null;
  SecretsMB?: number;
}

export interface AllocatedCpuResources {
  CpuShares: number;
  ReservedCores?: number[] | null;
}
export interface AllocatedMemoryResources {
  MemoryMB: number;
  MemoryMaxMB: number;
}
export interface AllocatedTaskResources {
  Cpu: AllocatedCpuResources;
  Memory: AllocatedMemoryResources;
  Networks?: NetworkResource[] | null;
}
export interface AllocatedPortMapping {
  Label: string;
  Value: number;
  To: number;
  HostIP: string;
}
export interface AllocatedSharedResources {
  DiskMB: number;
  Networks: NetworkResource[] | null;
  Ports: AllocatedPortMapping[] | null;
}
export interface AllocatedResources {
  Tasks: Record<string, AllocatedTaskResources>;
  TaskLifecycles?: Record<string, unknown> | null;
  Shared: AllocatedSharedResources;
}

export interface NodeCpuResources {
  CpuShares: number;
  TotalCpuCores: number;
  ReservableCpuCores?: number[] | null;
}
export interface NodeResources {
  Cpu: NodeCpuResources;
  Memory: { MemoryMB: number };
  Disk: { DiskMB: number };
  Networks: NetworkResource[] | null;
  NodeNetworks?: unknown[] | null;
  MinDynamicPort: number;
  MaxDynamicPort: number;
}
export interface NodeReservedResources {
  Cpu: { CpuShares: number; ReservedCpuCores?: number[] | null };
  Memory: { MemoryMB: number };
  Disk: { DiskMB: number };
  Networks: { ReservedHostPorts: string };
}
