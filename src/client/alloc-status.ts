import type { TaskState } from '../structs/index.js';

/** The allocation's ClientStatus from its tasks' states, with Nomad's precedence: failed, running, pending, complete. */
export function clientStatusFromTasks(states: TaskState[]): { status: string; description: string } {
  let pending = false;
  let running = false;
  let dead = false;
  let failed = false;
  for (const s of states) {
    if (s.State === 'running') running = true;
    else if (s.State === 'pending') pending = true;
    else if (s.State === 'dead') {
      if (s.Failed) failed = true;
      else dead = true;
    }
  }
  if (failed) return { status: 'failed', description: 'Failed tasks' };
  if (running) return { status: 'running', description: 'Tasks are running' };
  if (pending) return { status: 'pending', description: 'No tasks have started' };
  if (dead) return { status: 'complete', description: 'All tasks have completed' };
  return { status: 'pending', description: 'No tasks have started' };
}
