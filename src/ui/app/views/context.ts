/** What every view gets from the shell (main.ts): where to draw, the API, and its lifetime. */
import type { Api, ApiError } from '../api.js';

export interface ViewContext {
  /** The view's own area; the shell empties it on navigation. */
  main: HTMLElement;
  api: Api;
  /** Aborted when the user leaves the view: its watches and streams stop. */
  signal: AbortSignal;
  /** Sets the document title ("<text> · Drover"). */
  title(text: string): void;
  /** Starts a live watch of `path`; its failures show in the banner under `key` (and go to `onError`). */
  watch<T>(
    key: string,
    path: string,
    onValue: (value: T, index: number) => void,
    onError?: (err: ApiError) => void,
  ): void;
  /** Shows (or, with undefined, clears) an error of a user action in the banner. */
  report(key: string, err: ApiError | undefined): void;
  /** Called once the view drew its heading, so focus can move to it. */
  ready(): void;
}

export type View = (ctx: ViewContext) => void;

/** Encodes one path segment of an API URL. */
export const seg = encodeURIComponent;

/** `?namespace=` for API paths. */
export const nsq = (namespace: string) => `namespace=${encodeURIComponent(namespace)}`;
