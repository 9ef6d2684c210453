/** A CatalogSource fed by hand: tests push instance sets and the gateway sees each one. */
import { Latest } from './latest.js';
import type { CatalogSource, GatewayInstance } from './types.js';

export class MemorySource implements CatalogSource {
  private current: GatewayInstance[] | undefined;
  private readonly watchers = new Set<Latest<GatewayInstance[]>>();

  /** `initial`, when given, is what a new watcher sees first. */
  constructor(initial?: GatewayInstance[]) {
    this.current = initial;
  }

  /** Replaces the whole set of passing instances. */
  set(instances: GatewayInstance[]): void {
    this.current = [...instances];
    for (const w of this.watchers) w.publish(this.current);
  }

  async *watch(signal: AbortSignal): AsyncGenerator<GatewayInstance[]> {
    const ch = new Latest<GatewayInstance[]>();
    if (this.current !== undefined) ch.publish(this.current);
    this.watchers.add(ch);
    try {
      yield* ch.values(signal);
    } finally {
      this.watchers.delete(ch);
    }
  }
}
