/**
 * A few DOM helpers in place of a framework. Text always goes in as text nodes (never innerHTML), so job
 * names, log lines and error messages cannot inject markup.
 */
import { absoluteTime, relativeTime, toMillis } from './format.js';

export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue | ((ev: Event) => void)>;

/**
 * Creates an element. `on<event>` attributes with a function become listeners; `true` sets a boolean
 * attribute, `false`/null/undefined leave it out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/**
 * Replaces the content of `container`, keeping keyboard focus on the same link or control when the new
 * content has it again (matched by `data-key`, else `href`), so live updates do not throw a keyboard user
 * back to the top of the page.
 */
export function render(container: Element, ...children: Child[]): void {
  const active = document.activeElement;
  let key: string | null = null;
  if (active instanceof HTMLElement && container.contains(active)) {
    key = active.dataset['key']
      ? `[data-key="${CSS.escape(active.dataset['key'])}"]`
      : active.getAttribute('href') !== null
        ? `[href="${CSS.escape(active.getAttribute('href')!)}"]`
        : null;
  }
  const frag = document.createDocumentFragment();
  append(frag, children);
  container.replaceChildren(frag);
  if (key) (container.querySelector(key) as HTMLElement | null)?.focus();
}

export interface Column<T> {
  title: string;
  cell: (row: T) => Child;
  /** Right-aligned numbers. */
  numeric?: boolean;
}

/** A semantic table: caption, column headers with scope, one row per item; `empty` when there are none. */
export function table<T>(
  caption: string,
  columns: Column<T>[],
  rows: readonly T[],
  empty: Child = 'None.',
): HTMLElement {
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
          columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.title)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.map((r) =>
          h(
            'tr',
            null,
            columns.map((c) => h('td', { class: c.numeric ? 'num' : null }, c.cell(r))),
          ),
        ),
      ),
    ),
  );
}

/** A status word with a colour class; the word itself carries the meaning, the colour only helps. */
export function badge(status: string): HTMLElement {
  return h('span', { class: `badge badge-${status.replace(/[^a-z-]/gi, '').toLowerCase()}` }, status || 'unknown');
}

export function link(href: string, text: Child, attrs: Attrs = {}): HTMLAnchorElement {
  return h('a', { href, ...attrs }, text);
}

/** A `<time>` showing "3m ago" with the full date as its title; "–" for no time. */
export function time(t: number | string | null | undefined, now = Date.now()): Child {
  const ms = toMillis(t);
  if (ms === undefined) return '–';
  return h('time', { datetime: new Date(ms).toISOString(), title: absoluteTime(ms) }, relativeTime(ms, now));
}

/** A definition list of label/value pairs (a page's summary). */
export function facts(pairs: Array<[string, Child]>): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    pairs.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
  );
}

/** The page heading: focused by the router on navigation, so screen readers announce the new page. */
export function heading(text: Child, ...extra: Child[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', 'data-key': 'page-heading' }, text), extra);
}

export function section(title: string, ...content: Child[]): HTMLElement {
  const id = `sec-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), content);
}
