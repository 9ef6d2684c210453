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

/** The node fields a job file can name; a full Node, the client's own view, or a template's node all have them. */
export interface NodeVariableSource {
  ID: string;
  Name: string;
  Datacenter: string;
  NodeClass: string;
  NodePool?: string;
  Attributes?: Record<string, string> | null;
  Meta?: Record<string, string> | null;
}

/**
 * The value of a node variable as job files name it (`node.unique.id`, `node.unique.name`, `node.datacenter`,
 * `node.class`, `node.pool`, `attr.<name>`, `meta.<name>`), or undefined when the node has none. The one
 * resolver behind constraint targets, task interpolation and the template `env` function; `node.region` is
 * left to callers, which know the region differently (the node's attribute, or the agent's config).
 */
export function nodeVariable(name: string, node: NodeVariableSource): string | undefined {
  switch (name) {
    case 'node.unique.id':
      return node.ID;
    case 'node.unique.name':
      return node.Name;
    case 'node.datacenter':
      return node.Datacenter;
    case 'node.class':
      return node.NodeClass;
    case 'node.pool':
      return node.NodePool;
  }
  if (name.startsWith('attr.')) return node.Attributes?.[name.slice(5)];
  if (name.startsWith('meta.')) return node.Meta?.[name.slice(5)];
  return undefined;
}
