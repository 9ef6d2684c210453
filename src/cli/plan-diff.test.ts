import { describe, expect, it } from 'vitest';
import type { JobDiff, JobPlanResult } from '../api/index.js';
import { newDesiredUpdates, type DesiredUpdates } from '../structs/index.js';
import { formatDryRun, formatJobDiff, formatPlan, formatUpdates, planExitCode } from './plan-diff.js';

const none = (name: string, v: string) => ({ Type: 'None' as const, Name: name, Old: v, New: v, Annotations: null });

/** A count change from 1 to 3 plus an image change inside the driver config. */
const editedDiff: JobDiff = {
  Type: 'Edited',
  ID: 'web',
  Fields: [none('Priority', '50')],
  Objects: null,
  TaskGroups: [
    {
      Type: 'Edited',
      Name: 'web',
      Fields: [{ Type: 'Edited', Name: 'Count', Old: '1', New: '3', Annotations: ['forces create'] }],
      Objects: null,
      Updates: { create: 2, 'create/destroy update': 1 },
      Tasks: [
        {
          Type: 'Edited',
          Name: 'srv',
          Annotations: ['forces create/destroy update'],
          Fields: [none('Driver', 'raw_exec')],
          Objects: [
            {
              Type: 'Edited',
              Name: 'Config',
              Fields: [
                { Type: 'Edited', Name: 'command', Old: '/bin/sleep', New: '/bin/true', Annotations: null },
                none('args[0]', '10'),
              ],
              Objects: null,
            },
          ],
        },
      ],
    },
  ],
};

const unchangedDiff: JobDiff = {
  Type: 'None',
  ID: 'web',
  Fields: [none('Priority', '50')],
  Objects: null,
  TaskGroups: [
    {
      Type: 'None',
      Name: 'web',
      Fields: [none('Count', '3')],
      Objects: null,
      Updates: { ignore: 3 },
      Tasks: [{ Type: 'None', Name: 'srv', Annotations: null, Fields: null, Objects: null }],
    },
  ],
};

const addedDiff: JobDiff = {
  Type: 'Added',
  ID: 'batch',
  Fields: [
    { Type: 'Added', Name: 'Type', Old: '', New: 'batch', Annotations: null },
    { Type: 'Added', Name: 'Priority', Old: '', New: '50', Annotations: null },
  ],
  Objects: [
    {
      Type: 'Added',
      Name: 'Datacenters',
      Fields: [{ Type: 'Added', Name: 'Datacenters', Old: '', New: 'dc1', Annotations: null }],
      Objects: null,
    },
  ],
  TaskGroups: [
    {
      Type: 'Added',
      Name: 'run',
      Fields: null,
      Objects: null,
      Updates: { create: 1 },
      Tasks: [
        {
          Type: 'Added',
          Name: 'once',
          Annotations: null,
          Fields: [{ Type: 'Added', Name: 'Driver', Old: '', New: 'raw_exec', Annotations: null }],
          Objects: null,
        },
      ],
    },
  ],
};

const upd = newDesiredUpdates;

function plan(
  diff: JobDiff | null,
  updates: Record<string, DesiredUpdates> | null,
  extra: Partial<JobPlanResult> = {},
): JobPlanResult {
  return {
    Index: 10,
    JobModifyIndex: 7,
    Diff: diff,
    Annotations: updates ? { DesiredTGUpdates: updates } : null,
    FailedTGAllocs: null,
    CreatedEvals: null,
    Warnings: '',
    ...extra,
  };
}

describe('formatJobDiff', () => {
  it('marks edits with +/-, shows old => new with annotations, and aligns names inside objects', () => {
    expect(formatJobDiff(editedDiff)).toEqual([
      '+/- Job: "web"',
      '+/- Task Group: "web" (2 create, 1 create/destroy update)',
      '  +/- Count: "1" => "3" (forces create)',
      '  +/- Task: "srv" (forces create/destroy update)',
      '    +/- Config {',
      '      +/- command: "/bin/sleep" => "/bin/true"',
      '          args[0]: "10"',
      '        }',
    ]);
  });

  it('lists unchanged groups and tasks by name but hides unchanged fields unless verbose', () => {
    expect(formatJobDiff(unchangedDiff)).toEqual(['Job: "web"', 'Task Group: "web" (3 ignore)', '  Task: "srv"']);
    expect(formatJobDiff(unchangedDiff, true)).toEqual([
      'Job: "web"',
      'Priority: "50"',
      'Task Group: "web" (3 ignore)',
      '  Count: "3"',
      '  Task: "srv"',
    ]);
  });

  it('shows every field of a new job with + markers', () => {
    expect(formatJobDiff(addedDiff)).toEqual([
      '+ Job: "batch"',
      '+ Type    : "batch"',
      '+ Priority: "50"',
      '+ Datacenters {',
      '  + Datacenters: "dc1"',
      '  }',
      '+ Task Group: "run" (1 create)',
      '  + Task: "once"',
      '    + Driver: "raw_exec"',
    ]);
  });
});

describe('formatUpdates', () => {
  it('orders the counts create, destroy, in-place, destructive, ignore and drops zeros', () => {
    expect(formatUpdates({ ignore: 2, 'in-place update': 1, create: 1, destroy: 0 })).toBe(
      '1 create, 1 in-place update, 2 ignore',
    );
  });
});

describe('planExitCode', () => {
  it('is 0 when nothing is created or destroyed', () => {
    expect(planExitCode(plan(unchangedDiff, { web: upd({ Ignore: 3 }) }))).toBe(0);
  });

  it('is 0 for in-place updates only, as nomad', () => {
    expect(planExitCode(plan(editedDiff, { web: upd({ InPlaceUpdate: 3 }) }))).toBe(0);
  });

  it('is 1 when allocations are placed, stopped or replaced', () => {
    expect(planExitCode(plan(editedDiff, { web: upd({ Place: 2, Ignore: 1 }) }))).toBe(1);
    expect(planExitCode(plan(editedDiff, { web: upd({ Stop: 1 }) }))).toBe(1);
    expect(planExitCode(plan(editedDiff, { web: upd({ DestructiveUpdate: 1 }) }))).toBe(1);
  });

  it('falls back to the diff type without annotations', () => {
    expect(planExitCode(plan(editedDiff, null))).toBe(1);
    expect(planExitCode(plan(unchangedDiff, null))).toBe(0);
  });
});

describe('formatPlan', () => {
  it('explains failed placements in the dry run', () => {
    const p = plan(editedDiff, null, {
      FailedTGAllocs: {
        web: {
          NodesEvaluated: 3,
          NodesFiltered: 1,
          NodesInPool: 3,
          NodesAvailable: { dc1: 3 },
          ClassFiltered: null,
          ConstraintFiltered: { '${attr.kernel.name} = windows': 1 },
          NodesExhausted: 2,
          ClassExhausted: null,
          DimensionExhausted: { memory: 2 },
          QuotaExhausted: null,
          ScoreMetaData: null,
          AllocationTime: 1000,
          CoalescedFailures: 1,
        },
      },
    });
    expect(formatDryRun(p)).toEqual([
      'Scheduler dry-run:',
      '- WARNING: Failed to place all allocations.',
      '  Task Group "web" (failed to place 2 allocations):',
      '    * Constraint "${attr.kernel.name} = windows": 1 nodes excluded by filter',
      '    * Resources exhausted on 2 nodes',
      '    * Dimension "memory" exhausted on 2 nodes',
    ]);
  });

  it('lists the warnings as bullets before the diff', () => {
    const lines = formatPlan(
      plan(unchangedDiff, null, { Warnings: 'the "update" block is ignored\nthe "consul" block is ignored\n' }),
      'web.hcl',
    );
    expect(lines.slice(0, 4)).toEqual([
      'Job Warnings:',
      '* the "update" block is ignored',
      '* the "consul" block is ignored',
      '',
    ]);
  });

  it('ends with the job modify index and the check-index command', () => {
    const lines = formatPlan(plan(unchangedDiff, { web: upd({ Ignore: 3 }) }), 'web.nomad.hcl');
    expect(lines).toContain('- All tasks successfully allocated.');
    expect(lines).toContain('Job Modify Index: 7');
    expect(lines).toContain('drover job run -check-index 7 web.nomad.hcl');
  });
});
