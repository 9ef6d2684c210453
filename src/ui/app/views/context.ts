/**
 * What every view gets from the shell (main.ts), and the hooks views use to read the API: `useWatch` follows
 * a blocking query for as long as the view is shown; `useAction` runs one write with a busy state and puts the
 * API's error text beside the button and in the banner.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Api } from '../api.js';

export interface ViewContext {
  api: Api;
  /** Aborted when the user leaves the view: its watches and streams stop. */
  signal: AbortSignal;
  /** Sets the document title ("<text> · Drover"). */
  title(text: string): void;
  /** Shows (or, with undefined, clears) an error in the banner under `key`. */
  report(key: string, err: ApiError | undefined): void;
  /** Called once the view drew its heading, so focus can move to it. */
  ready(): void;
}

export interface ViewProps {
  ctx: ViewContext;
}

/** Encodes one path segment of an API URL. */
export const seg = encodeURIComponent;

/** `?namespace=` for API paths. */
export const nsq = (namespace: string) => `namespace=${encodeURIComponent(namespace)}`;

export function asApiError(e: unknown, method: string, path: string): ApiError {
  return e instanceof ApiError ? e : new ApiError(method, path, 0, String(e), 'Internal');
}

export interface Watched<T> {
  value: T | undefined;
  error: ApiError | undefined;
}

/**
 * The current value of `path`, kept live with blocking queries until the view goes away or `path` changes
 * (undefined `path`: nothing is watched). Failures go to the banner under `key`, and to `error`.
 */
export function useWatch<T>(ctx: ViewContext, key: string, path: string | undefined): Watched<T> {
  const [state, setState] = useState<Watched<T>>({ value: undefined, error: undefined });
  useEffect(() => {
    if (path === undefined) return;
    const ac = new AbortController();
    const stop = () => ac.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    setState({ value: undefined, error: undefined });
    // Resolves when aborted and never rejects (ApiClient.watch): nothing to await.
    void ctx.api.watch<T>(
      key,
      path,
      ac.signal,
      (value) => setState({ value, error: undefined }),
      (error) => setState((s) => ({ value: s.value, error })),
    );
    return () => {
      ctx.signal.removeEventListener('abort', stop);
      ac.abort();
    };
  }, [ctx, key, path]);
  return state;
}

/**
 * Runs `task` while the view is shown: its signal aborts when the user leaves the view, `deps` change or the
 * component goes away. For loops that read the API (samplers, streams); `task` handles its own errors.
 */
export function useViewTask(ctx: ViewContext, task: (signal: AbortSignal) => Promise<void>, deps: unknown[]): void {
  useEffect(() => {
    const ac = new AbortController();
    const stop = () => ac.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    task(ac.signal).catch(() => undefined);
    return () => {
      ctx.signal.removeEventListener('abort', stop);
      ac.abort();
    };
  }, [ctx, ...deps]);
}

/** Sets the title and moves focus to the heading once, when the view first draws. */
export function useViewTitle(ctx: ViewContext, title: string): void {
  useEffect(() => ctx.title(title), [ctx, title]);
  useEffect(() => ctx.ready(), [ctx]);
}

export interface Action {
  busy: boolean;
  error: ApiError | undefined;
  /** Runs `fn` unless one is running; resolves to its value, or undefined when it failed. */
  run<R>(fn: (signal: AbortSignal) => Promise<R>): Promise<R | undefined>;
}

/** One user action (a write): a busy flag for the button, the API's error text when it fails. */
export function useAction(ctx: ViewContext, key: string): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const running = useRef(false);
  return {
    busy,
    error,
    run: async (fn) => {
      if (running.current) return undefined;
      running.current = true;
      setBusy(true);
      try {
        const r = await fn(ctx.signal);
        if (ctx.signal.aborted) return undefined;
        setError(undefined);
        ctx.report(key, undefined);
        return r;
      } catch (e) {
        if (ctx.signal.aborted) return undefined;
        const err = asApiError(e, 'POST', key);
        setError(err);
        ctx.report(key, err);
        return undefined;
      } finally {
        running.current = false;
        if (!ctx.signal.aborted) setBusy(false);
      }
    },
  };
}
