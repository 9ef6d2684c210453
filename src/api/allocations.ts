/** Allocation endpoints, including the client ones served for an allocation (`stats`, `logs`). */
import type { AllocListStub, Allocation } from '../structs/index.js';
import type { HttpTransport, QueryOptions, QueryResponse, WriteOptions } from './http.js';
import type { AllocCheckStatus, AllocResourceUsage, EvalCreatedResponse, LogType, LogsOptions } from './types.js';

export class AllocationsAPI {
  constructor(private readonly http: HttpTransport) {}

  list(q: QueryOptions & { resources?: boolean; taskStates?: boolean } = {}): Promise<QueryResponse<AllocListStub[]>> {
    return this.http.query<AllocListStub[]>('/v1/allocations', {
      ...q,
      params: { ...q.params, resources: q.resources ? true : undefined, task_states: q.taskStates === false ? false : undefined },
    });
  }

  get(id: string, q: QueryOptions = {}): Promise<QueryResponse<Allocation>> {
    return this.http.query<Allocation>(`/v1/allocation/${encodeURIComponent(id)}`, q);
  }

  /** Live resource usage, measured by the client running the allocation. */
  async stats(id: string, q: QueryOptions = {}): Promise<AllocResourceUsage> {
    return (await this.http.query<AllocResourceUsage>(`/v1/client/allocation/${encodeURIComponent(id)}/stats`, q)).value;
  }

  /** The latest result of every service check of the allocation, keyed by check ID (Nomad's `alloc checks`). */
  async checks(id: string, q: QueryOptions = {}): Promise<Record<string, AllocCheckStatus>> {
    return (await this.http.query<Record<string, AllocCheckStatus>>(`/v1/client/allocation/${encodeURIComponent(id)}/checks`, q)).value ?? {};
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

  stop(id: string, opts: WriteOptions & { noShutdownDelay?: boolean } = {}): Promise<EvalCreatedResponse> {
    return this.http.write<EvalCreatedResponse>('POST', `/v1/allocation/${encodeURIComponent(id)}/stop`, {}, {
      ...opts,
      params: { ...opts.params, no_shutdown_delay: opts.noShutdownDelay ? true : undefined },
    });
  }

  /**
   * Restarts the allocation's tasks in place (not counted against the restart policy): `task` only, every running
   * task (no task), or every task in lifecycle order (`allTasks`). Resolves once the tasks were stopped.
   */
  restart(id: string, task: string | undefined, opts: WriteOptions & { allTasks?: boolean } = {}): Promise<unknown> {
    return this.http.write('POST', `/v1/client/allocation/${encodeURIComponent(id)}/restart`, { TaskName: task ?? '', AllTasks: opts.allTasks ?? false }, opts);
  }

  /** Sends `signal` (a name such as SIGUSR1) to one task, or to every running task when `task` is undefined. */
  signal(id: string, signal: string, task?: string, opts: WriteOptions = {}): Promise<unknown> {
    return this.http.write('POST', `/v1/client/allocation/${encodeURIComponent(id)}/signal`, { Task: task ?? '', Signal: signal }, opts);
  }
}
