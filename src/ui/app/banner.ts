/**
 * The error banner: every failing API call of the current view, with its status and the API's own text
 * (`404 job "x" not found in namespace "default"`). Keyed by source, so a watch that recovers removes
 * only its own message. Cleared when the user moves to another view.
 */
import type { ApiError } from './api.js';
import { render } from 'preact';
import { h } from './dom.js';

export class Banner {
  private readonly errors = new Map<string, ApiError>();

  constructor(private readonly el: HTMLElement) {}

  set(key: string, err: ApiError | undefined): void {
    if (err === undefined) {
      if (!this.errors.delete(key)) return;
    } else {
      const prev = this.errors.get(key);
      this.errors.set(key, err);
      // A watch retrying the same failure must not make screen readers announce it again.
      if (prev && prev.status === err.status && prev.text === err.text) return;
    }
    this.draw();
  }

  clear(): void {
    if (this.errors.size === 0) return;
    this.errors.clear();
    this.draw();
  }

  private draw(): void {
    this.el.hidden = this.errors.size === 0;
    render(
      [...this.errors].map(([key, e]) =>
        h(
          'p',
          { class: 'banner-item', key },
          h('strong', { class: 'banner-status' }, e.status === 0 ? 'No answer' : String(e.status)),
          ' ',
          h('span', { class: 'banner-text' }, e.status === 0 ? `cannot reach the agent: ${e.text}` : e.text),
          ' ',
          h('span', { class: 'banner-request' }, `(${e.method} ${e.path})`),
        ),
      ),
      this.el,
    );
  }
}
