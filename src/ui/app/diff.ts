/**
 * Nomad's job diff (`job plan`, versions with `?diffs=true`) drawn as `job plan` prints it: `+` added, `-`
 * deleted, `+/-` edited, nested by object; fields that did not change are left out.
 */
import { h, type Child } from './dom.js';
import type { FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff } from './types.js';

const MARK: Record<string, string> = { Added: '+', Deleted: '-', Edited: '+/-', None: '' };

function fieldLine(f: FieldDiff): Child {
  const text =
    f.Type === 'Added'
      ? `${f.Name}: "${f.New}"`
      : f.Type === 'Deleted'
        ? `${f.Name}: "${f.Old}"`
        : `${f.Name}: "${f.Old}" => "${f.New}"`;
  const notes = f.Annotations?.length ? ` (${f.Annotations.join(', ')})` : '';
  return h('li', { class: `diff-${f.Type.toLowerCase()}`, key: `f:${f.Name}` }, `${MARK[f.Type]} ${text}${notes}`);
}

function changed<T extends { Type: string }>(xs: T[] | null | undefined): T[] {
  return (xs ?? []).filter((x) => x.Type !== 'None');
}

function objectItem(o: ObjectDiff | TaskDiff, label: string): Child {
  return h(
    'li',
    { class: `diff-${o.Type.toLowerCase()}`, key: `o:${label}` },
    `${MARK[o.Type]} ${label}`,
    body(o.Fields, o.Objects),
  );
}

function body(fields: FieldDiff[] | null, objects: ObjectDiff[] | null, extra: Child[] = []): Child {
  const fs = changed(fields);
  const os = changed(objects);
  if (fs.length === 0 && os.length === 0 && extra.length === 0) return null;
  return h(
    'ul',
    null,
    fs.map(fieldLine),
    os.map((o) => objectItem(o, o.Name)),
    extra,
  );
}

function groupItem(g: TaskGroupDiff): Child {
  const updates = Object.entries(g.Updates ?? {})
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  return h(
    'li',
    { class: `diff-${g.Type.toLowerCase()}`, key: `g:${g.Name}` },
    `${MARK[g.Type] || ' '} Task group "${g.Name}"${updates ? ` (${updates})` : ''}`,
    body(
      g.Fields,
      g.Objects,
      changed(g.Tasks).map((t) => objectItem(t, `Task "${t.Name}"`)),
    ),
  );
}

/** The diff as nested lists; "No changes." when nothing differs. */
export function diffView(d: JobDiff | null | undefined): Child {
  if (!d) return h('p', { class: 'empty' }, 'No diff.');
  const groups = (d.TaskGroups ?? []).filter((g) => g.Type !== 'None' || Object.keys(g.Updates ?? {}).length > 0);
  if (d.Type === 'None' && groups.length === 0) return h('p', { class: 'empty' }, 'No changes.');
  return h(
    'ul',
    { class: 'diff' },
    h(
      'li',
      { class: `diff-${d.Type.toLowerCase()}` },
      `${MARK[d.Type] || ' '} Job "${d.ID}"`,
      body(d.Fields, d.Objects, groups.map(groupItem)),
    ),
  );
}

/** A short count of what a diff changes, for the versions table. */
export function diffSummary(d: JobDiff | null | undefined): string {
  if (!d) return '–';
  let n = 0;
  const count = (fields: FieldDiff[] | null, objects: ObjectDiff[] | null) => {
    n += changed(fields).length;
    for (const o of changed(objects)) count(o.Fields, o.Objects);
  };
  count(d.Fields, d.Objects);
  for (const g of d.TaskGroups ?? []) {
    count(g.Fields, g.Objects);
    for (const t of changed(g.Tasks)) count(t.Fields, t.Objects);
  }
  return n === 0 ? 'no changes' : `${n} change${n === 1 ? '' : 's'}`;
}
