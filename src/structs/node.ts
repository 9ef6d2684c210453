/**
 * Client nodes as the server sees them. Status moves initializing → ready → down (missed heartbeat
 * TTL) or disconnected; SchedulingEligibility is toggled by drain and `node eligibility`.
 */
import type { NodeReservedResources, NodeResources } from './resources.js';

export const NodeStatusInit = 'initializing';
export const NodeStatusReady = 'ready';
export const NodeStatusDown = 'down';
export const NodeStatusDisconnected = 'disconnected';
export const NodeSchedulingEligible = 'eligible';
export const NodeSchedulingIneligible = 'ineligible';

export interface DriverInfo {
  Attributes: Record<string, string> | null;
  Detected: boolean;
  Healthy: boolean;
  HealthDescription: string;
  UpdateTime: string;
}

export interface DrainStrategy {
  Deadline: number;
  IgnoreSystemJobs: boolean;
  ForceDeadline: string;
  StartedAt: string;
}

export interface NodeEvent {
  Message: string;
  Subsystem: string;
  Details: Record<string, string> | null;
  Timestamp: string;
  CreateIndex: number;
}

export interface HostVolumeInfo {
  Path: string;
  ReadOnly: boolean;
}

export interface Node {
  ID: string;
  SecretID?: string;
  Datacenter: string;
  Name: string;
  HTTPAddr: string;
  TLSEnabled: boolean;
  Attributes: Record<string, string>;
  NodeResources: NodeResources;
  ReservedResources: NodeReservedResources;
  Links: Record<string, string> | null;
  Meta: Record<string, string>;
  NodeClass: string;
  NodePool: string;
  ComputedClass?: string;
  Drain?: boolean;
  DrainStrategy: DrainStrategy | null;
  SchedulingEligibility: string;
  Status: string;
  StatusDescription: string;
  StatusUpdatedAt: number;
  Events: NodeEvent[] | null;
  Drivers: Record<string, DriverInfo>;
  HostVolumes: Record<string, HostVolumeInfo> | null;
  HostNetworks?: Record<string, unknown> | null;
  CreateIndex: number;
  ModifyIndex: number;
}

export interface NodeListStub {
  Address: string;
  ID: string;
  Attributes?: Record<string, string> | null;
  Datacenter: string;
  Name: string;
  NodeClass: string;
  NodePool: string;
  Version: string;
  Drain: boolean;
  SchedulingEligibility: string;
  Status: string;
  StatusDescription: string;
  Drivers: Record<string, DriverInfo>;
  LastDrain?: unknown;
  CreateIndex: number;
  ModifyIndex: number;
}

export function nodeListStub(n: Node): NodeListStub {
  return {
    Address: n.Attributes['unique.network.ip-address'] ?? '',
    ID: n.ID,
    Datacenter: n.Datacenter,
    Name: n.Name,
    NodeClass: n.NodeClass,
    NodePool: n.NodePool,
    Version: n.Attributes['nomad.version'] ?? '',
    Drain: n.DrainStrategy != null,
    SchedulingEligibility: n.SchedulingEligibility,
    Status: n.Status,
    StatusDescription: n.StatusDescription,
    Drivers: n.Drivers,
    CreateIndex: n.CreateIndex,
    ModifyIndex: n.ModifyIndex,
  };
}

/** Ready and eligible: the scheduler may place new work here. */
export function nodeSchedulable(n: Node): boolean {
  return n.Status === NodeStatusReady && n.SchedulingEligibility === NodeSchedulingEligible && n.DrainStrategy == null;
}
