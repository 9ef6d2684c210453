/**
 * The scheduler's read-only SchedulerState over a snapshot. `jobOverride` lets `job plan` show the
 * scheduler a job that is not registered yet, without writing it.
 */
import type { SchedulerConfiguration, SchedulerState } from '../scheduler/types.js';
import { defaultSchedulerConfiguration } from '../scheduler/types.js';
import type { Job } from '../structs/index.js';
import type { StateView } from '../state/index.js';

export function schedulerStateOf(
  view: StateView,
  opts: { config?: SchedulerConfiguration; jobOverride?: Job } = {},
): SchedulerState {
  const config = opts.config ?? defaultSchedulerConfiguration();
  const over = opts.jobOverride;
  return {
    index: () => view.index(),
    nodes: () => view.nodes(),
    nodesVersion: () => view.nodesVersion(),
    nodeByID: (id) => view.nodeByID(id),
    jobByID: (ns, id) => (over != null && over.Namespace === ns && over.ID === id ? over : view.jobByID(ns, id)),
    allocsByJob: (ns, id) => view.allocsByJob(ns, id),
    allocsByNode: (id) => view.allocsByNode(id),
    nodeUsage: (id) => view.nodeUsage(id),
    nodeUsages: () => view.nodeUsages(),
    allocByID: (id) => view.allocByID(id),
    latestDeploymentByJobID: (ns, id) => view.latestDeploymentByJobID(ns, id),
    deploymentByID: (id) => view.deploymentByID(id),
    schedulerConfig: () => config,
  };
}
