import { describe, expect, it } from 'vitest';
import { MemoryTemplateData } from './memory-data.js';
import { TemplateRunner } from './runner.js';
import { watchTemplate, type Clock } from './watch.js';
import { dependencyKey, type Dependency, type TemplateData, type TemplateDataLoader } from './data.js';
import type { ServiceInstance } from './data.js';

/** A manual clock: sleeps resolve only when the test advances time. */
class FakeClock implements Clock {
  nowMs = 0;
  private timers: Array<{ at: number; resolve: () => void }> = [];
  now() {
    return this.nowMs;
  }
  sleep(ms: number, signal: AbortSignal) {
    return new Promise<void>((resolve, reject) => {
      const timer = { at: this.nowMs + ms, resolve };
      this.timers.push(timer);
      signal.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }
  get pending() {
    return this.timers.length;
  }
  async advance(ms: number) {
    this.nowMs += ms;
    const due = this.timers.filter((x) => x.at <= this.nowMs);
    this.timers = this.timers.filter((x) => x.at > this.nowMs);
    for (const d of due) d.resolve();
    await settle();
  }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

const web = (n: number): ServiceInstance => ({
  ID: `web-${n}`,
  Name: 'web',
  Address: `10.0.0.${n}`,
  Port: 80,
  Tags: [],
  NodeID: `n${n}`,
});

describe('TemplateRunner', () => {
  it('loads missing data between passes until the render is complete', async () => {
    const store = new MemoryTemplateData({ services: [web(1)], kv: { 'cfg/name': 'web' } });
    const loaded = new Set<string>();
    // A snapshot that only knows what was loaded, like a cache fed by blocking queries.
    const lazy: TemplateData = {
      services: (q) => (loaded.has(`service:${q.name}`) ? store.services(q) : undefined),
      serviceNames: () => undefined,
      kv: (p) => (loaded.has(`kv:${p}`) ? store.kv(p) : undefined),
      env: () => undefined,
    };
    const calls: string[][] = [];
    const loader: TemplateDataLoader = {
      load: async (deps: Dependency[]) => {
        calls.push(deps.map(dependencyKey));
        for (const d of deps)
          loaded.add(d.kind === 'service' ? `service:${d.name}` : d.kind === 'kv' ? `kv:${d.path}` : '');
      },
    };
    const runner = new TemplateRunner({ text: '{{ range service (key "cfg/name") }}{{ .Address }}{{ end }}' });
    const first = runner.render(lazy);
    expect(first.complete).toBe(false);
    // The service name comes from the key, so the first pass cannot even form that query.
    expect(first.missing.map((d) => d.kind)).toEqual(['kv']);
    const res = await runner.renderComplete(lazy, loader, new AbortController().signal);
    expect(res.complete).toBe(true);
    expect(res.output).toBe('10.0.0.1');
    expect(calls).toEqual([['kv::cfg/name'], ['service:consul:default::.web|passing']]);
  });

  it('returns execution errors as data, and does not report them while data is missing', () => {
    const runner = new TemplateRunner({ text: '{{ (index (service "web") 0).Address }}' });
    const partial = runner.render({ services: () => undefined, serviceNames: () => undefined, env: () => undefined });
    expect(partial.error).toBeUndefined();
    expect(partial.complete).toBe(false);
    const res = runner.render(new MemoryTemplateData());
    expect(res.error?.message).toContain('error calling index: index out of range: 0');
    expect(res.complete).toBe(false);
  });

  it('records the data index of each dependency', () => {
    const data = new MemoryTemplateData({ services: [web(1)] });
    data.putKV('x', '1');
    const res = new TemplateRunner({ text: '{{ key "x" }}{{ range service "web" }}{{ end }}' }).render(data);
    expect([...res.indexes.values()].every((i) => i > 1)).toBe(true);
    expect(res.indexes.size).toBe(2);
  });
});

describe('watchTemplate', () => {
  function setup(opts: { wait?: { minMs: number; maxMs: number }; splayMs?: number } = {}) {
    const data = new MemoryTemplateData({ services: [web(1)], variables: { 'nomad/jobs/app': { pw: 'a' } } });
    const clock = new FakeClock();
    const ac = new AbortController();
    const renders: Array<{ content: string; initial: boolean; at: number }> = [];
    const changes: Array<{ content: string; at: number }> = [];
    const done = watchTemplate({
      runner: new TemplateRunner({
        text: '{{ range service "web" }}{{ .Address }} {{ end }}pw={{ with nomadVar "nomad/jobs/app" }}{{ .pw }}{{ end }}',
      }),
      data,
      waitForChange: data.waitForChange,
      clock,
      rng: () => 0.5,
      signal: ac.signal,
      onRender: (content, { initial }) => void renders.push({ content, initial, at: clock.nowMs }),
      onChange: (content) => void changes.push({ content, at: clock.nowMs }),
      ...opts,
    });
    return { data, clock, ac, renders, changes, done };
  }

  it('renders at once, then again when watched data changes, calling onChange only for changes', async () => {
    const { data, ac, renders, changes, done } = setup();
    await settle();
    expect(renders).toEqual([{ content: '10.0.0.1 pw=a', initial: true, at: 0 }]);
    data.putVariable('nomad/jobs/app', { pw: 'b' });
    await settle();
    data.upsertService(web(2));
    await settle();
    expect(renders.map((r) => r.content)).toEqual(['10.0.0.1 pw=a', '10.0.0.1 pw=b', '10.0.0.1 10.0.0.2 pw=b']);
    expect(changes.map((c) => c.content)).toEqual(['10.0.0.1 pw=b', '10.0.0.1 10.0.0.2 pw=b']);
    ac.abort();
    await done;
    expect(data.pendingWaits).toBe(0);
  });

  it('does not call back when a change leaves the output identical', async () => {
    const { data, ac, renders, done } = setup();
    await settle();
    data.putVariable('nomad/jobs/app', { pw: 'a' });
    data.putKV('unwatched', 'x');
    await settle();
    expect(renders).toHaveLength(1);
    ac.abort();
    await done;
  });

  it('coalesces changes until wait.min passes quietly, but no longer than wait.max', async () => {
    const { data, clock, ac, renders, done } = setup({ wait: { minMs: 100, maxMs: 250 } });
    await settle();
    data.upsertService(web(2));
    await settle();
    await clock.advance(60);
    data.upsertService(web(3));
    await settle();
    await clock.advance(60);
    expect(renders).toHaveLength(1);
    await clock.advance(100);
    expect(renders.map((r) => [r.content, r.at])).toEqual([
      ['10.0.0.1 pw=a', 0],
      ['10.0.0.1 10.0.0.2 10.0.0.3 pw=a', 220],
    ]);
    // A stream of changes closer than min is cut off by max.
    for (let i = 4; i < 12; i++) {
      data.upsertService(web(i));
      await settle();
      await clock.advance(50);
    }
    expect(renders).toHaveLength(3);
    expect(renders[2]!.at - 220).toBe(250);
    ac.abort();
    await done;
    expect(clock.pending).toBe(0);
  });

  it('waits a splay before onChange, using the injected random source', async () => {
    const { data, clock, ac, renders, changes, done } = setup({ splayMs: 1000 });
    await settle();
    data.putVariable('nomad/jobs/app', { pw: 'z' });
    await settle();
    expect(renders).toHaveLength(2);
    expect(changes).toHaveLength(0);
    await clock.advance(499);
    expect(changes).toHaveLength(0);
    await clock.advance(1);
    expect(changes).toEqual([{ content: '10.0.0.1 pw=z', at: 500 }]);
    ac.abort();
    await done;
  });

  it('stops after the first render with once', async () => {
    const data = new MemoryTemplateData({ env: { A: '1' } });
    const seen: string[] = [];
    await watchTemplate({
      runner: new TemplateRunner({ text: 'a={{ env "A" }}' }),
      data,
      waitForChange: data.waitForChange,
      once: true,
      signal: new AbortController().signal,
      onRender: (c) => void seen.push(c),
    });
    expect(seen).toEqual(['a=1']);
  });

  it('reports a template error and keeps watching when onError is given', async () => {
    const data = new MemoryTemplateData();
    const errors: string[] = [];
    const seen: string[] = [];
    const ac = new AbortController();
    const done = watchTemplate({
      runner: new TemplateRunner({ text: '{{ (index (service "web") 0).Address }}' }),
      data,
      waitForChange: data.waitForChange,
      signal: ac.signal,
      onRender: (c) => void seen.push(c),
      onError: (e) => void errors.push(e.message),
    });
    await settle();
    expect(errors).toHaveLength(1);
    data.upsertService(web(7));
    await settle();
    expect(seen).toEqual(['10.0.0.7']);
    ac.abort();
    await done;
  });
});
