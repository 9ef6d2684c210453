/**
 * Nomad Variables: the list (live), and one variable's editor. Every write is a check-and-set at the index
 * the editor loaded (`?cas=N`; 0 creates): when someone else changed the variable meanwhile the API answers
 * 409 with the current one, and the editor shows it beside the user's text rather than overwriting either.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { h, heading, link, loading, section, table, time } from '../dom.js';
import { toHash } from '../routes.js';
import type { Variable } from '../types.js';
import { nsq, useAction, useViewTitle, useWatch, type ViewProps } from './context.js';

const varHref = (path: string, namespace: string) => toHash({ view: 'variable', path, namespace });
const varPath = (path: string) => `/v1/var/${path.split('/').map(encodeURIComponent).join('/')}`;

export function VariablesView({ ctx }: ViewProps) {
  useViewTitle(ctx, 'Variables');
  const { value: vars } = useWatch<Variable[]>(ctx, 'variables', '/v1/vars?namespace=*');
  const [path, setPath] = useState('');
  const [namespace, setNamespace] = useState('default');
  const create = (ev: Event) => {
    ev.preventDefault();
    const p = path.trim().replace(/^\/+|\/+$/g, '');
    if (p) location.hash = varHref(p, namespace.trim() || 'default');
  };
  const sorted = [...(vars ?? [])].sort(
    (a, b) => a.Path.localeCompare(b.Path) || a.Namespace.localeCompare(b.Namespace),
  );
  return h(
    'div',
    null,
    heading('Variables'),
    vars === undefined
      ? loading('Loading variables…')
      : table(
          'Variables',
          [
            { title: 'Path', cell: (v) => link(varHref(v.Path, v.Namespace), v.Path) },
            { title: 'Namespace', cell: (v) => v.Namespace },
            { title: 'Modify index', cell: (v) => v.ModifyIndex, numeric: true },
            { title: 'Modified', cell: (v) => time(v.ModifyTime) },
          ],
          sorted,
          'No variables.',
          (v) => `${v.Namespace}/${v.Path}`,
        ),
    section(
      'Create a variable',
      h(
        'form',
        { class: 'inline-form', onSubmit: create },
        h('label', { for: 'new-var-path' }, 'Path '),
        h('input', {
          id: 'new-var-path',
          value: path,
          placeholder: 'nomad/jobs/example',
          onInput: (e: Event) => setPath((e.target as HTMLInputElement).value),
        }),
        ' ',
        h('label', { for: 'new-var-ns' }, 'Namespace '),
        h('input', {
          id: 'new-var-ns',
          value: namespace,
          onInput: (e: Event) => setNamespace((e.target as HTMLInputElement).value),
        }),
        ' ',
        h('button', { type: 'submit', disabled: !path.trim() }, 'Create'),
      ),
    ),
  );
}

interface Row {
  key: string;
  value: string;
}

const rowsOf = (items: Record<string, string> | undefined): Row[] =>
  Object.entries(items ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => ({ key, value }));

export function VariableView({ ctx, path, namespace }: ViewProps & { path: string; namespace: string }) {
  useViewTitle(ctx, `Variable ${path}`);
  const api = `${varPath(path)}?${nsq(namespace)}`;
  const live = useWatch<Variable>(ctx, 'variable', api);
  const missing = live.error?.status === 404;
  // What the editor was loaded from: its index is the check-and-set of the next write.
  const [base, setBase] = useState<Variable | null | undefined>(undefined);
  const [rows, setRows] = useState<Row[]>([]);
  const [dirty, setDirty] = useState(false);
  const [conflict, setConflict] = useState<Variable | undefined>(undefined);
  const [saved, setSaved] = useState('');
  const save = useAction(ctx, 'variable write');

  const load = (v: Variable | null) => {
    setBase(v);
    setRows(v ? rowsOf(v.Items) : [{ key: '', value: '' }]);
    setDirty(false);
    setConflict(undefined);
  };
  // The live value flows into the editor until the user starts typing.
  useEffect(() => {
    if (dirty) return;
    if (live.value) load(live.value);
    else if (missing && base === undefined) load(null);
  }, [live.value, missing]);

  const edit = (i: number, field: keyof Row, value: string) => {
    setRows((rs) => rs.map((r, j) => (j === i ? { ...r, [field]: value } : r)));
    setDirty(true);
    setSaved('');
  };
  const cas = base ? base.ModifyIndex : 0;
  const onConflict = (e: unknown) => {
    if (e instanceof ApiError && e.status === 409) {
      try {
        setConflict(JSON.parse(e.text) as Variable);
      } catch {
        setConflict(undefined);
      }
    }
  };
  const submit = (ev: Event) => {
    ev.preventDefault();
    const Items: Record<string, string> = {};
    for (const r of rows) if (r.key.trim()) Items[r.key.trim()] = r.value;
    void save
      .run(async (signal) => {
        try {
          return await ctx.api.request<Variable>(
            'PUT',
            `${api}&cas=${cas}`,
            { Namespace: namespace, Path: path, Items },
            signal,
          );
        } catch (e) {
          onConflict(e);
          throw e;
        }
      })
      .then((v) => {
        if (!v) return;
        load(v);
        setSaved(`Saved at index ${v.ModifyIndex}.`);
      });
  };
  const remove = () => {
    if (!window.confirm(`Delete variable "${path}" in namespace "${namespace}"?`)) return;
    void save
      .run(async (signal) => {
        try {
          await ctx.api.request('DELETE', `${api}&cas=${cas}`, undefined, signal);
          return true;
        } catch (e) {
          onConflict(e);
          throw e;
        }
      })
      .then((ok) => {
        if (ok) location.hash = toHash({ view: 'variables' });
      });
  };

  if (base === undefined)
    return h(
      'div',
      null,
      heading(`Variable ${path}`),
      live.error && !missing ? h('p', { class: 'empty' }, live.error.message) : loading('Loading variable…'),
    );
  const changedElsewhere = dirty && live.value && base && live.value.ModifyIndex !== base.ModifyIndex;
  return h(
    'div',
    null,
    heading(`Variable ${path}`),
    h(
      'p',
      { class: 'note' },
      `Namespace ${namespace}. `,
      base
        ? `Loaded at index ${base.ModifyIndex}; saving checks it is still the current one.`
        : 'New: saving creates it, unless someone else does first.',
    ),
    h(
      'form',
      { class: 'stack', onSubmit: submit, 'aria-label': 'Variable items' },
      h(
        'table',
        { class: 'items' },
        h('caption', { class: 'visually-hidden' }, 'Items'),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', { scope: 'col' }, 'Key'),
            h('th', { scope: 'col' }, 'Value'),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Remove')),
          ),
        ),
        h(
          'tbody',
          null,
          rows.map((r, i) =>
            h(
              'tr',
              { key: i },
              h(
                'td',
                null,
                h('input', {
                  'aria-label': `Key ${i + 1}`,
                  value: r.key,
                  onInput: (e: Event) => edit(i, 'key', (e.target as HTMLInputElement).value),
                }),
              ),
              h(
                'td',
                null,
                h('textarea', {
                  'aria-label': `Value ${i + 1}`,
                  rows: 1,
                  value: r.value,
                  onInput: (e: Event) => edit(i, 'value', (e.target as HTMLTextAreaElement).value),
                }),
              ),
              h(
                'td',
                null,
                h(
                  'button',
                  {
                    type: 'button',
                    'aria-label': `Remove item ${r.key || i + 1}`,
                    onClick: () => {
                      setRows((rs) => rs.filter((_, j) => j !== i));
                      setDirty(true);
                    },
                  },
                  'Remove',
                ),
              ),
            ),
          ),
        ),
      ),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            onClick: () => {
              setRows((rs) => [...rs, { key: '', value: '' }]);
              setDirty(true);
            },
          },
          'Add item',
        ),
        ' ',
        h('button', { type: 'submit', class: 'primary', disabled: save.busy }, 'Save'),
        ' ',
        base ? h('button', { type: 'button', class: 'danger', onClick: remove, disabled: save.busy }, 'Delete') : null,
      ),
      saved ? h('p', { role: 'status' }, saved) : null,
      changedElsewhere
        ? h(
            'p',
            { class: 'note', role: 'status' },
            `Changed elsewhere since you started editing (now at index ${live.value!.ModifyIndex}).`,
          )
        : null,
      save.error && !conflict ? h('p', { class: 'action-error', role: 'status' }, save.error.message) : null,
      conflict
        ? h(
            'div',
            { class: 'conflict', role: 'alert' },
            h(
              'p',
              null,
              h('strong', null, 'Conflict: '),
              `the variable changed since you loaded it (index ${cas}, now ${conflict.ModifyIndex}). Your edits are kept; its current items are:`,
            ),
            h(
              'ul',
              null,
              rowsOf(conflict.Items).map((r) =>
                h('li', { key: r.key }, h('code', null, r.key), ' = ', h('code', null, r.value)),
              ),
            ),
            h('button', { type: 'button', onClick: () => load(conflict) }, 'Discard mine and load theirs'),
            ' ',
            h(
              'button',
              {
                type: 'button',
                onClick: () => {
                  setBase(conflict);
                  setConflict(undefined);
                },
              },
              'Keep mine (save over theirs next)',
            ),
          )
        : null,
    ),
  );
}
