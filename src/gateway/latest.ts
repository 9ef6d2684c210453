/**
 * A one-slot channel: a producer publishes values, a consumer iterates and always gets the newest one. Values
 * published while the consumer is busy are coalesced, which is what a routing table wants: only the latest
 * catalog matters.
 */
export class Latest<T> {
  private value: T | undefined;
  private has = false;
  private wake: (() => void) | undefined;

  publish(value: T): void {
    this.value = value;
    this.has = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Iterates the newest values until `signal` aborts. */
  async *values(signal: AbortSignal): AsyncGenerator<T> {
    const onAbort = () => {
      const w = this.wake;
      this.wake = undefined;
      w?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (!this.has) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        const v = this.value as T;
        this.has = false;
        yield v;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
