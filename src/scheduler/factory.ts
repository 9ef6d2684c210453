/** Picks the scheduler implementation for an eval type. */
import { badRequest } from '../errors/index.js';
import { GenericScheduler } from './generic.js';
import { SystemScheduler } from './system.js';
import type { Planner, Scheduler, SchedulerOptions, SchedulerState } from './types.js';

export const SchedulerTypes = ['service', 'batch', 'system', 'sysbatch'] as const;

/** Creates the scheduler for an eval's type ('service', 'batch', 'system', 'sysbatch'); throws for others. */
export function newScheduler(type: string, state: SchedulerState, planner: Planner, opts: SchedulerOptions): Scheduler {
  switch (type) {
    case 'service':
      return new GenericScheduler(state, planner, opts, false);
    case 'batch':
      return new GenericScheduler(state, planner, opts, true);
    case 'system':
      return new SystemScheduler(state, planner, opts, false);
    case 'sysbatch':
      return new SystemScheduler(state, planner, opts, true);
    default:
      throw badRequest(`unknown scheduler type "${type}"`);
  }
}
