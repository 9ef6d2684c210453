/**
 * A CatalogSource over any blocking query, for wiring the gateway inside an agent that holds the catalog
 * itself (no HTTP hop):
 *
 *   query(0) --answer at index i1--> yield --> query(i1) blocks until the catalog passes i1 --> yield --> ...
 *
 * The query must block until its index passes `minIndex` (or its own wait ends, answering the same index, which
 * is not yielded again). Failures back off from 250 ms to 10 s and keep the last set.
 */
import type { Logger } from '../logging/index.js';
import type { ServiceRegistration } from '../structs/index.js';
import type { CatalogSource, GatewayInstance } from './types.js';
import { sleepOrAborted } from '../lib/sleep.js';

export interface BlockingAnswer {
  index: number;
  instances: GatewayInstance[];
}

export type BlockingQuery = (minIndex: number, signal: AbortSignal) => Promise<BlockingAnswer>;

export class BlockingQuerySource implements CatalogSource {
  constructor(
    private readonly query: BlockingQuery,
    private readonly logger: Logger,
    private readonly retry = { minMs: 250, maxMs: 10_000 },
  ) {}

  async *watch(signal: AbortSignal): AsyncGenerator<GatewayInstance[]> {
    const query = async (minIndex: number, s: AbortSignal) => {
      const a = await this.query(minIndex, s);
      return { index: a.index, value: a.instances };
    };
    yield* watchBlocking(
      query,
      signal,
      (error, retryInMs) => this.logger.warn('catalog query failed; retrying', { error, retryInMs }),
      this.retry,
    );
  }
}

/**
 * Any blocking query as a stream of its answers: each new index yields once; failures back off (250 ms to 10 s
 * by default) and are reported through `onRetry`, keeping the last answer.
 */
export async function* watchBlocking<T>(
  query: (minIndex: number, signal: AbortSignal) => Promise<{ index: number; value: T }>,
  signal: AbortSignal,
  onRetry: (error: string, retryInMs: number) => void,
  retry = { minMs: 250, maxMs: 10_000 },
): AsyncGenerator<T> {
  let index = 0;
  let first = true;
  let delay = 0;
  while (!signal.aborted) {
    let answer: { index: number; value: T };
    try {
      answer = await query(index, signal);
      delay = 0;
    } catch (err) {
      if (signal.aborted) return;
      delay = Math.min(Math.max(delay * 2, retry.minMs), retry.maxMs);
      onRetry(String(err), delay);
      await sleepOrAborted(delay, signal);
      continue;
    }
    if (!first && answer.index === index) continue; // the query's wait ended with no change
    // An index that goes backwards means the source was reset: take the answer and start over from it.
    index = answer.index;
    first = false;
    yield answer.value;
  }
}

/**
 * A catalog row in the gateway's shape. Healthy when Drover's `Status` is absent (no checks, or a plain Nomad
 * registration) or `passing`.
 */
export function registrationToInstance(
  r: Pick<ServiceRegistration, 'ID' | 'ServiceName' | 'Address' | 'Port' | 'Tags' | 'AllocID' | 'NodeID' | 'Status'>,
): GatewayInstance {
  return {
    ID: r.ID,
    ServiceName: r.ServiceName,
    Address: r.Address,
    Port: r.Port,
    Tags: r.Tags ?? [],
    AllocID: r.AllocID,
    NodeID: r.NodeID,
    Healthy: r.Status === undefined || r.Status === 'passing',
  };
}
