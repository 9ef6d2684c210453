/**
 * Typed reads over a consistent view: a snapshot, or a write transaction's working copy (which sees
 * its own writes). Objects returned are shared with the store and must not be mutated.
 */
import {
  allocTerminalStatus,
  evalTerminal,
  type Allocation,
  type Deployment,
  type Evaluation,
  type Job,
  type JobSummary,
  type Node,
  type NodeResourceUsage,
  type ServiceRegistration,
} from '../structs/index.js';
import { nsKey, type TableName } from './schema.js';
import type { TableReader } from './tables.js';

export class StateView {
  constructor(
    readonly tables: TableReader,
    private readonly at: () => number,
  ) {}

  /** The state index this view is at. */
  index(): number {
    return this.at();
  }

  tableIndex(name: TableName): number {
    return this.tables.tableIndex(name);
  }

  /** The highest last-modified index among `names`: what a blocking query on those tables reports. */
  maxTableIndex(names: readonly TableName[]): number {
    let m = 0;
    for (const n of names) m = Math.max(m, this.tables.tableIndex(n));
    return m;
  }

  jobByID(namespace: string, id: string): Job | undefined {
    return this.tables.get('jobs', nsKey(namespace, id));
  }

  jobs(): Job[] {
    return [...this.tables.all('jobs')];
  }

  /** Every kept version of the job, newest first. */
  jobVersions(namespace: string, id: string): Job[] {
    return this.tables
      .byIndex('job_versions', 'job', nsKey(namespace, id))
      .sort((a, b) => (b.Version ?? 0) - (a.Version ?? 0));
  }

  jobVersion(namespace: string, id: string, version: number): Job | undefined {
    return this.jobVersions(namespace, id).find((j) => (j.Version ?? 0) === version);
  }

  jobSummary(namespace: string, id: string): JobSummary | undefined {
    return this.tables.get('job_summaries', nsKey(namespace, id));
  }

  allocByID(id: string): Allocation | undefined {
    return this.tables.get('allocs', id);
  }

  allocs(): IterableIterator<Allocation> {
    return this.tables.all('allocs');
  }

  allocsByJob(namespace: string, jobID: string): Allocation[] {
    return this.tables.byIndex('allocs', 'job', nsKey(namespace, jobID));
  }

  allocsByNode(nodeID: string): Allocation[] {
    return this.tables.byIndex('allocs', 'node', nodeID);
  }

  /** The allocations on the node that still hold resources (not terminal on either side). */
  liveAllocsByNode(nodeID: string): Allocation[] {
    return this.allocsByNode(nodeID).filter((a) => !allocTerminalStatus(a));
  }

  /**
   * The summed resources (cpu, memory, disk, host ports) of the node's live allocations, maintained on
   * every allocation write; undefined when the node holds none. O(1): no allocation is read.
   */
  nodeUsage(nodeID: string): NodeResourceUsage | undefined {
    return this.tables.nodeUsage(nodeID);
  }

  /** Every node holding live allocations, with its summed usage. */
  nodeUsages(): Iterable<[string, NodeResourceUsage]> {
    return this.tables.nodeUsages();
  }

  allocsByEval(evalID: string): Allocation[] {
    return this.tables.byIndex('allocs', 'eval', evalID);
  }

  allocsByDeployment(deploymentID: string): Allocation[] {
    return this.tables.byIndex('allocs', 'deployment', deploymentID);
  }

  evalByID(id: string): Evaluation | undefined {
    return this.tables.get('evals', id);
  }

  evals(): IterableIterator<Evaluation> {
    return this.tables.all('evals');
  }

  evalsByJob(namespace: string, jobID: string): Evaluation[] {
    return this.tables.byIndex('evals', 'job', nsKey(namespace, jobID));
  }

  nonTerminalEvalsByJob(namespace: string, jobID: string): Evaluation[] {
    return this.evalsByJob(namespace, jobID).filter((e) => !evalTerminal(e));
  }

  nodeByID(id: string): Node | undefined {
    return this.tables.get('nodes', id);
  }

  nodes(): IterableIterator<Node> {
    return this.tables.all('nodes');
  }

  /** Stays the same object exactly as long as the nodes table is unchanged (a cache key). */
  nodesVersion(): object {
    return this.tables.rowsVersion('nodes');
  }

  nodeCount(): number {
    return this.tables.count('nodes');
  }

  /** Nodes with a DrainStrategy, from an index: O(draining nodes), not O(nodes). */
  drainingNodes(): Node[] {
    return this.tables.byIndex('nodes', 'draining', 'draining');
  }

  drainingNodeCount(): number {
    return this.tables.countByIndex('nodes', 'draining', 'draining');
  }

  deploymentByID(id: string): Deployment | undefined {
    return this.tables.get('deployments', id);
  }

  deployments(): IterableIterator<Deployment> {
    return this.tables.all('deployments');
  }

  deploymentsByJob(namespace: string, jobID: string): Deployment[] {
    return this.tables
      .byIndex('deployments', 'job', nsKey(namespace, jobID))
      .sort((a, b) => b.CreateIndex - a.CreateIndex);
  }

  latestDeploymentByJobID(namespace: string, jobID: string): Deployment | undefined {
    return this.deploymentsByJob(namespace, jobID)[0];
  }

  serviceRegistrationsByName(namespace: string, name: string): ServiceRegistration[] {
    return this.tables.byIndex('service_registrations', 'name', nsKey(namespace, name));
  }

  serviceRegistrationsByAlloc(allocID: string): ServiceRegistration[] {
    return this.tables.byIndex('service_registrations', 'alloc', allocID);
  }

  serviceRegistrationsByNode(nodeID: string): ServiceRegistration[] {
    return this.tables.byIndex('service_registrations', 'node', nodeID);
  }
}
