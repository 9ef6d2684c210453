/**
 * The UI's building blocks on Preact: `h` makes virtual nodes and Preact diffs them into the page, so a live
 * update changes only the text and rows that changed. Scroll position, text selection, focus and open
 * controls survive updates (the hand-written renderer this replaced rebuilt whole subtrees). Text always goes
 * in as text nodes (never innerHTML), so job names, log lines and error messages cannot inject markup.
 *
 * Plain `h()` calls rather than JSX or htm: tsc type-checks them and the browser runs them as they are.
 */
import { h, type ComponentChildren, type VNode } from 'preact';
import { absoluteTime, relativeTime, toMillis } from './format.js';

export { h };
export type Child = ComponentChildren;
/** A virtual element of any props (what the helpers below return). */
export type El = VNode<any>;

export interface Column<T> {
  title: string;
  cell: (row: T) => Child;
  /** Right-aligned numbers. */
  numeric?: boolean;
}

/**
 * A semantic table: caption, column headers with scope, one row per item; `empty` when there are none.
 * `key` names each row, so Preact moves rows rather than rewriting them when the order changes.
 */
export function table<T>(
  caption: string,
  columns: Column<T>[],
  rows: readonly T[],
  empty: Child = 'None.',
  key?: (row: T, i: number) => string,
): El {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      null,
      h('caption', { class: 'visually-hidden' }, caption),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : undefined }, c.title)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r, i) =>
          h(
            'tr',
            { key: key ? key(r, i) : i },
            columns.map((c) => h('td', { class: c.numeric ? 'num' : undefined }, c.cell(r))),
          ),
        ),
      ),
    ),
  );
}

/** A status word with a colour class; the word itself carries the meaning, the colour only helps. */
export function badge(status: string): El {
  return h('span', { class: `badge badge-${status.replace(/[^a-z-]/gi, '').toLowerCase()}` }, status || 'unknown');
}

export function link(href: string, text: Child, attrs: Record<string, unknown> = {}): El {
  return h('a', { href, ...attrs }, text);
}

/** A `<time>` showing "3m ago" with the full date as its title; "–" for no time. */
export function time(t: number | string | null | undefined, now = Date.now()): Child {
  const ms = toMillis(t);
  if (ms === undefined) return '–';
  return h('time', { dateTime: new Date(ms).toISOString(), title: absoluteTime(ms) }, relativeTime(ms, now));
}

/** A definition list of label/value pairs (a page's summary). */
export function facts(pairs: Array<[string, Child]>): El {
  return h(
    'dl',
    { class: 'facts' },
    pairs.map(([k, v]) => h('div', { key: k }, h('dt', null, k), h('dd', null, v))),
  );
}

/** The page heading: focused by the router on navigation, so screen readers announce the new page. */
export function heading(text: Child, ...extra: Child[]): El {
  return h('div', { class: 'page-head' }, h('h1', { tabIndex: -1 }, text), extra);
}

export function section(title: string, ...content: Child[]): El {
  const id = `sec-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), content);
}

export function loading(text: string): El {
  return h('p', { class: 'loading' }, text);
}
