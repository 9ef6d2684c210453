/**
 * A bounded load loop for the e2e tests that assert "no failed request": one request every `everyMs`, for at
 * most `maxMs`, until stop(). A request fails when it errors, times out (`timeoutMs`, 5 s unless given), answers
 * a non-2xx status or an empty body; the bodies of the others are counted (the test servers answer their version
 * or alloc ID), and the slowest answer's time is kept.
 */
export class Load {
  readonly answers = new Map<string, number>();
  readonly failures: string[] = [];
  slowestMs = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(url: string, everyMs: number, maxMs: number, timeoutMs = 5000) {
    const until = AbortSignal.timeout(maxMs);
    this.done = (async () => {
      const pending: Array<Promise<void>> = [];
      while (!this.stopped && !until.aborted) {
        const t0 = performance.now();
        pending.push(
          fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
            .then(async (r) => {
              const body = await r.text();
              this.slowestMs = Math.max(this.slowestMs, performance.now() - t0);
              if (!r.ok || body === '') this.failures.push(`${r.status} ${body.replace(/\s+/g, ' ').slice(0, 120)}`);
              else this.answers.set(body, (this.answers.get(body) ?? 0) + 1);
            })
            .catch((e: unknown) => void this.failures.push(String((e as { cause?: unknown }).cause ?? e))),
        );
        await new Promise((r) => setTimeout(r, everyMs));
      }
      await Promise.all(pending);
    })();
  }

  get total(): number {
    return this.failures.length + [...this.answers.values()].reduce((a, b) => a + b, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  summary(what: string): string {
    return `${what}: ${this.total} requests, ${this.failures.length} failed, slowest ${Math.round(this.slowestMs)} ms; answers ${JSON.stringify(Object.fromEntries(this.answers))}`;
  }
}
