/** Allocation endpoints, including the client ones served for an allocation (`stats`, `logs`). */
import type { AllocListStub, Allocation } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';
import type {
  AllocCheckStatus,
  AllocFileInfo,
  AllocResourceUsage,
  EvalCreatedResponse,
  LogType,
  LogsOptions,
} from './types.js';

export class AllocationsAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions & { resources?: boolean; taskStates?: boolean } = {}): Promise<QueryResponse<AllocListStub[]>> {
    return this.http.query<AllocListStub[]>('/v1/allocations', {
      ...q,
      params: {
        ...q.params,
        resources: q.resources ? true : undefined,
        task_states: q.taskStates === false ? false : undefined,
      },
    });
  }

  get(id: string, q: QueryOptions = {}): Promise<QueryResponse<Allocation>> {
    return this.http.query<Allocation>(`/v1/allocation/${encodeURIComponent(id)}`, q);
  }

  /** Live resource usage, measured by the client running the allocation. */
  async stats(id: string, q: QueryOptions = {}): Promise<AllocResourceUsage> {
    return (await this.http.query<AllocResourceUsage>(`/v1/client/allocation/${encodeURIComponent(id)}/stats`, q))
      .value;
  }

  /** The latest result of every service check of the allocation, keyed by check ID (Nomad's `alloc checks`). */
  async checks(id: string, q: QueryOptions = {}): Promise<Record<string, AllocCheckStatus>> {
    return (
      (
        await this.http.query<Record<string, AllocCheckStatus>>(
          `/v1/client/allocation/${encodeURIComponent(id)}/checks`,
          q,
        )
      ).value ?? {}
    );
  }

  /**
   * A task's stdout or stderr as text chunks. With `follow` the iteration lasts until `signal` aborts or the
   * allocation's logs end; breaking out of the loop closes the stream.
   */
  logs(allocID: string, task: string, type: LogType, opts: LogsOptions = {}): AsyncGenerator<string, void, undefined> {
    return this.http.stream(`/v1/client/fs/logs/${encodeURIComponent(allocID)}`, {
      signal: opts.signal,
      params: {
        task,
        type,
        follow: opts.follow ?? false,
        origin: opts.origin ?? 'start',
        offset: opts.offset ?? 0,
        plain: true,
      },
    });
  }

  /** `GET /v1/client/fs/ls/:alloc`: a directory of the allocation (path relative to its directory, `/` its root). */
  async fsList(allocID: string, path: string, q: QueryOptions = {}): Promise<AllocFileInfo[]> {
    return (
      await this.http.query<AllocFileInfo[]>(`/v1/client/fs/ls/${encodeURIComponent(allocID)}`, {
        ...q,
        params: { ...q.params, path },
      })
    ).value;
  }

  /** `GET /v1/client/fs/stat/:alloc`. */
  async fsStat(allocID: string, path: string, q: QueryOptions = {}): Promise<AllocFileInfo> {
    return (
      await this.http.query<AllocFileInfo>(`/v1/client/fs/stat/${encodeURIComponent(allocID)}`, {
        ...q,
        params: { ...q.params, path },
      })
    ).value;
  }

  /** A file of the allocation as text chunks: `cat`, or with `follow` the `stream` endpoint in plain form. */
  fsRead(
    allocID: string,
    path: string,
    opts: { follow?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<string, void, undefined> {
    const id = encodeURIComponent(allocID);
    if (!opts.follow) return this.http.stream(`/v1/client/fs/cat/${id}`, { signal: opts.signal, params: { path } });
    return this.http.stream(`/v1/client/fs/stream/${id}`, {
      signal: opts.signal,
      params: { path, follow: true, plain: true, origin: 'start', offset: 0 },
    });
  }

  stop(id: string, opts: WriteOptions & { noShutdownDelay?: boolean } = {}): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>(
      'POST',
      `/v1/allocation/${encodeURIComponent(id)}/stop`,
      {},
      {
        ...opts,
        params: { ...opts.params, no_shutdown_delay: opts.noShutdownDelay ? true : undefined },
      },
    );
  }

  /**
   * Restarts the allocation's tasks in place (not counted against the restart policy): `task` only, every running
   * task (no task), or every task in lifecycle order (`allTasks`). Resolves once the tasks were stopped.
   */
  restart(id: string, task: string | undefined, opts: WriteOptions & { allTasks?: boolean } = {}): Promise<unknown> {
    return this.http.write(
      'POST',
      `/v1/client/allocation/${encodeURIComponent(id)}/restart`,
      { TaskName: task ?? '', AllTasks: opts.allTasks ?? false },
      opts,
    );
  }

  /** Sends `signal` (a name such as SIGUSR1) to one task, or to every running task when `task` is undefined. */
  signal(id: string, signal: string, task?: string, opts: WriteOptions = {}): Promise<unknown> {
    return this.http.write(
      'POST',
      `/v1/client/allocation/${encodeURIComponent(id)}/signal`,
      { Task: task ?? '', Signal: signal },
      opts,
    );
  }
}
