/**
 * Prints `job plan` results the way nomad does: the job diff with `+`, `-`, `+/-` markers, the scheduler's
 * dry-run, and the check-index hint; and decides nomad's exit code (0 no change, 1 changes).
 *
 *   +/- Job: "web"
 *   +/- Task Group: "web" (1 create, 2 ignore)
 *     +/- Count: "2" => "3" (forces create)
 *     +/- Task: "srv" (forces create/destroy update)
 *       +/- Config {
 *         +/- command: "/bin/sleep" => "/bin/true"
 *             args[0]: "10"
 *           }
 *
 * Nesting indents by two spaces; markers are padded so names line up among siblings.
 */
import type { FieldDiff, JobDiff, JobPlanResult, ObjectDiff, TaskDiff, TaskGroupDiff } from '../api/index.js';
import { formatFailedPlacements } from './placement.js';
import { formatTime } from './format.js';

type DiffType = FieldDiff['Type'];

function marker(t: DiffType): string {
  switch (t) {
    case 'Added':
      return '+ ';
    case 'Deleted':
      return '- ';
    case 'Edited':
      return '+/- ';
    default:
      return '';
  }
}

function annotations(a: string[] | null | undefined): string {
  return a && a.length > 0 ? ` (${a.join(', ')})` : '';
}

function fieldValue(f: FieldDiff): string {
  switch (f.Type) {
    case 'Added':
      return `"${f.New}"`;
    case 'Deleted':
      return `"${f.Old}"`;
    case 'Edited':
      return `"${f.Old}" => "${f.New}"`;
    default:
      return `"${f.New || f.Old}"`;
  }
}

/**
 * Fields then objects at one level, markers and names aligned across siblings. `all` prints unchanged items
 * too: nomad does inside an edited object (for context) and everywhere with `-verbose`.
 */
function formatFieldsAndObjects(
  fields: FieldDiff[] | null,
  objects: ObjectDiff[] | null,
  indent: number,
  all: boolean,
): string[] {
  const fs = (fields ?? []).filter((f) => all || f.Type !== 'None');
  const os = (objects ?? []).filter((o) => all || o.Type !== 'None');
  const mw = Math.max(0, ...fs.map((f) => marker(f.Type).length), ...os.map((o) => marker(o.Type).length));
  const nw = Math.max(0, ...fs.map((f) => f.Name.length));
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  for (const f of fs) {
    lines.push(`${pad}${marker(f.Type).padEnd(mw)}${f.Name.padEnd(nw)}: ${fieldValue(f)}${annotations(f.Annotations)}`);
  }
  for (const o of os) {
    lines.push(`${pad}${marker(o.Type).padEnd(mw)}${o.Name} {`);
    // Inside an object nomad shows every field the server sent, so an edit is read in its context.
    lines.push(...formatFieldsAndObjects(o.Fields, o.Objects, indent + 2, true));
    lines.push(`${pad}${' '.repeat(mw)}}`);
  }
  return lines;
}

const UPDATE_ORDER = ['create', 'destroy', 'migrate', 'in-place update', 'create/destroy update', 'canary', 'ignore'];

/** `1 create, 2 ignore`: non-zero counts in a fixed order (unknown kinds last, by name). */
export function formatUpdates(updates: Record<string, number> | null | undefined): string {
  const entries = Object.entries(updates ?? {}).filter(([, n]) => n > 0);
  const rank = (k: string) => {
    const i = UPDATE_ORDER.indexOf(k);
    return i < 0 ? UPDATE_ORDER.length : i;
  };
  entries.sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  return entries.map(([k, n]) => `${n} ${k}`).join(', ');
}

function formatTaskDiff(t: TaskDiff, indent: number, verbose: boolean): string[] {
  const pad = ' '.repeat(indent);
  const lines = [`${pad}${marker(t.Type)}Task: "${t.Name}"${annotations(t.Annotations)}`];
  // A whole task added or removed: its fields are the task, so they are shown.
  const all = verbose || t.Type === 'Added' || t.Type === 'Deleted';
  lines.push(...formatFieldsAndObjects(t.Fields, t.Objects, indent + 2, all));
  return lines;
}

function formatGroupDiff(g: TaskGroupDiff, verbose: boolean): string[] {
  const updates = formatUpdates(g.Updates);
  const lines = [`${marker(g.Type)}Task Group: "${g.Name}"${updates ? ` (${updates})` : ''}`];
  const inner = 2;
  const all = verbose || g.Type === 'Added' || g.Type === 'Deleted';
  lines.push(...formatFieldsAndObjects(g.Fields, g.Objects, inner, all));
  for (const t of g.Tasks ?? []) lines.push(...formatTaskDiff(t, inner, verbose));
  return lines;
}

/** The whole diff as lines. Unchanged groups and tasks are listed by name, as nomad does. */
export function formatJobDiff(d: JobDiff, verbose = false): string[] {
  const lines = [`${marker(d.Type)}Job: "${d.ID}"`];
  lines.push(...formatFieldsAndObjects(d.Fields, d.Objects, 0, verbose || d.Type === 'Added' || d.Type === 'Deleted'));
  for (const g of d.TaskGroups ?? []) lines.push(...formatGroupDiff(g, verbose));
  return lines;
}

/** The "Scheduler dry-run:" section. */
export function formatDryRun(p: JobPlanResult): string[] {
  const lines = ['Scheduler dry-run:'];
  const failed = p.FailedTGAllocs ?? {};
  if (Object.keys(failed).length === 0) {
    lines.push('- All tasks successfully allocated.');
  } else {
    lines.push('- WARNING: Failed to place all allocations.');
    lines.push(...formatFailedPlacements(failed, 2));
  }
  if (p.NextPeriodicLaunch && !p.NextPeriodicLaunch.startsWith('0001-01-01')) {
    const ms = Date.parse(p.NextPeriodicLaunch);
    if (!Number.isNaN(ms)) lines.push(`- If submitted now, next periodic launch would be at ${formatTime(ms)}.`);
  }
  return lines;
}

/** The closing hint: how to run exactly what was planned. */
export function formatCheckIndexHint(jobModifyIndex: number, file: string, program = 'drover'): string[] {
  return [
    `Job Modify Index: ${jobModifyIndex}`,
    'To submit the job with version verification run:',
    '',
    `${program} job run -check-index ${jobModifyIndex} ${file}`,
    '',
    'When running the job with the check-index flag, the job will only be run if the',
    'job modify index given matches the server-side version. If the index has',
    "changed, another user has modified the job and the plan's results are",
    'potentially invalid.',
  ];
}

/**
 * Nomad's `job plan` exit code: 1 when allocations would be created, destroyed or replaced, 0 otherwise
 * (in-place updates included). Without annotations, any diff counts as a change.
 */
export function planExitCode(p: JobPlanResult): number {
  const updates = p.Annotations?.DesiredTGUpdates;
  if (updates) {
    for (const u of Object.values(updates)) {
      if ((u.Place ?? 0) + (u.Stop ?? 0) + (u.Migrate ?? 0) + (u.DestructiveUpdate ?? 0) + (u.Canary ?? 0) > 0)
        return 1;
    }
    return 0;
  }
  return p.Diff && p.Diff.Type !== 'None' ? 1 : 0;
}

/** Everything `job plan` prints for a plan answer. */
export function formatPlan(p: JobPlanResult, file: string, verbose = false): string[] {
  const lines: string[] = [];
  const warnings = p.Warnings.split('\n')
    .map((w) => w.trim())
    .filter(Boolean);
  if (warnings.length > 0) lines.push('Job Warnings:', ...warnings.map((w) => `* ${w}`), '');
  if (p.Diff) lines.push(...formatJobDiff(p.Diff, verbose), '');
  lines.push(...formatDryRun(p), '');
  lines.push(...formatCheckIndexHint(p.JobModifyIndex, file));
  return lines;
}
