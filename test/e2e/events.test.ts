/**
 * The event stream as a log shipper follows it: NDJSON batches over HTTP, filtered by topic and key, resumed
 * with `index` after the agent restarted (same data dir, so indexes go on), and the `drover event stream` CLI.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestAgent } from './harness/agent.js';

interface Batch {
  Index: number;
  Events: Array<{
    Topic: string;
    Type: string;
    Key: string;
    Namespace: string;
    Index: number;
    Payload: Record<string, unknown>;
  }>;
}

/** Reads the stream until `enough` says so (bounded by `timeoutMs`), then closes it. */
async function readStream(url: string, enough: (b: Batch[]) => boolean, timeoutMs = 30_000): Promise<Batch[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const out: Batch[] = [];
  try {
    const res = await fetch(url, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let pending = '';
    while (!enough(out)) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += dec.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() !== '' && line.trim() !== '{}') out.push(JSON.parse(line) as Batch);
      }
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

const putVar = (agent: TestAgent, path: string, v: string) =>
  agent.api(`/v1/var/${path}`, {
    method: 'PUT',
    body: JSON.stringify({ Namespace: 'default', Path: path, Items: { v } }),
  });

describe('the event stream', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'drover-e2e-events-'));
  let agent = new TestAgent({ dataDir });
  afterAll(() => agent.stop());

  it('streams variable writes by topic and key, and resumes with index across an agent restart', async () => {
    await agent.start();
    const streaming = readStream(
      `${agent.address}/v1/event/stream?topic=Variable:ev/a&topic=Variable:ev/b`,
      (b) => b.length >= 2,
    );
    // Give the stream a moment to be attached: events before it are still delivered from the buffer (index 0).
    await putVar(agent, 'ev/a', '1');
    await putVar(agent, 'ev/other', 'x');
    await putVar(agent, 'ev/b', '2');
    const first = await streaming;
    expect(first.map((b) => b.Events.map((e) => `${e.Topic}:${e.Key}:${e.Type}`))).toEqual([
      ['Variable:ev/a:VariableUpserted'],
      ['Variable:ev/b:VariableUpserted'],
    ]);
    expect(JSON.stringify(first)).not.toContain('"v":"1"');
    const lastIndex = first[1]!.Index;

    // The agent restarts on the same data dir (a new port); the shipper reconnects from lastIndex + 1.
    await agent.stopAgent();
    agent = new TestAgent({ dataDir });
    await agent.start();
    await putVar(agent, 'ev/a', '3');
    const resumed = await readStream(
      `${agent.address}/v1/event/stream?topic=Variable:ev/a&index=${lastIndex + 1}`,
      (b) => b.length >= 1,
    );
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.Index).toBeGreaterThan(lastIndex);
    expect(resumed[0]!.Events[0]).toMatchObject({ Topic: 'Variable', Key: 'ev/a', Namespace: 'default' });

    const bad = await agent.api<string>('/v1/event/stream?topic=Planet:*');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/invalid topic "Planet:\*"/);
    expect((await agent.api<string>('/v1/event/stream?index=soon')).status).toBe(400);
  }, 120_000);

  it('prints the stream with drover event stream, one JSON batch per line', async () => {
    const cli = agent.cliAsync(['event', 'stream', '-topic', 'Variable:ev/cli']);
    let out = '';
    cli.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await agent.waitFor(
        'the CLI to print the write',
        async () => {
          await putVar(agent, 'ev/cli', String(Date.now()));
          return out.includes('"Key":"ev/cli"');
        },
        30_000,
        1000,
      );
      const line = out.split('\n').find((l) => l.includes('ev/cli'))!;
      expect(JSON.parse(line)).toMatchObject({ Events: [{ Topic: 'Variable', Key: 'ev/cli' }] });
    } finally {
      const exited = new Promise((r) => cli.once('exit', r));
      cli.kill('SIGINT');
      await exited;
    }
  }, 60_000);
});
