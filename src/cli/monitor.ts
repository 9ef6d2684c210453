/**
 * Follows an evaluation to its end with blocking queries, printing what nomad prints:
 *
 *   ==> Monitoring evaluation "abcd1234"
 *       Evaluation triggered by job "web"
 *       Allocation "5b4d6db5" created: node "e1e7bc1d", group "web"
 *       Evaluation status changed: "pending" -> "complete"
 *   ==> Evaluation "abcd1234" finished with status "complete"
 *
 *   pending ──(blocking GET /v1/evaluation/:id?index=N)──► changed? print allocs + status ──► terminal?
 *      ▲                                                                                      │ no
 *      └──────────────────────────────────────────────────────────────────────────────────────┘
 *   terminal: NextEval set ──► monitor the next one; else print the outcome and placement failures.
 *
 * Exit codes as nomad: 0 when everything was placed, 2 when the evaluation failed or could not place all.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isNotFound, type DroverClient } from '../api/index.js';
import { evalTerminal, type AllocListStub, type Evaluation } from '../structs/index.js';
import { shortId } from './format.js';
import type { Output } from './output.js';
import { formatFailedPlacements } from './placement.js';

export interface MonitorOptions {
  verbose?: boolean;
  signal?: AbortSignal;
  /** How long one blocking query may wait on the server (ms). */
  waitMs?: number;
  /**
   * Runs once the evaluation is finished and everything was placed; deployment monitoring (`job run` waiting
   * for the rollout) plugs in here. Returns the exit code, or undefined to keep 0.
   */
  afterEval?: (ev: Evaluation) => Promise<number | undefined>;
}

const NOT_FOUND_RETRIES = 20;
const NOT_FOUND_DELAY_MS = 100;
const MAX_FOLLOWED_EVALS = 20;

/** Reads the evaluation, blocking past `index`; tolerates the short moment before a new eval is readable. */
async function readEval(client: DroverClient, id: string, index: number, opts: MonitorOptions) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.evaluations.get(id, { index, wait: opts.waitMs ?? 30_000, signal: opts.signal });
    } catch (e) {
      if (!isNotFound(e) || attempt >= NOT_FOUND_RETRIES) throw e;
      await sleep(NOT_FOUND_DELAY_MS, undefined, { signal: opts.signal });
    }
  }
}

function triggerLine(ev: Evaluation): string {
  if (ev.NodeID && (ev.TriggeredBy === 'node-update' || ev.TriggeredBy === 'node-drain'))
    return `Evaluation triggered by node "${shortId(ev.NodeID)}"`;
  return `Evaluation triggered by job "${ev.JobID}"`;
}

function allocLine(a: AllocListStub, ev: Evaluation, verbose: boolean): string {
  const what = a.CreateIndex >= ev.CreateIndex ? 'created' : 'modified';
  return `Allocation "${shortId(a.ID, verbose)}" ${what}: node "${shortId(a.NodeID, verbose)}", group "${a.TaskGroup}"`;
}

/** Monitors one evaluation (and the ones it hands over to); returns nomad's exit code. */
export async function monitorEval(
  client: DroverClient,
  out: Output,
  evalID: string,
  opts: MonitorOptions = {},
): Promise<number> {
  const verbose = opts.verbose ?? false;
  const say = (s: string) => out.line(`    ${s}`);
  let id = evalID;
  for (let followed = 0; followed < MAX_FOLLOWED_EVALS; followed++) {
    out.line(`==> Monitoring evaluation "${shortId(id, verbose)}"`);
    const seenAllocs = new Set<string>();
    let lastStatus = 'pending';
    let index = 0;
    let first = true;
    let ev: Evaluation;
    for (;;) {
      const r = await readEval(client, id, index, opts);
      ev = r.value;
      const changed = first || r.index !== index;
      index = r.index;
      if (first) {
        say(triggerLine(ev));
        if (ev.DeploymentID) say(`Evaluation within deployment: "${shortId(ev.DeploymentID, verbose)}"`);
        first = false;
      }
      if (changed) {
        const allocs = (await client.evaluations.allocations(id, { signal: opts.signal })).value ?? [];
        for (const a of [...allocs].sort((x, y) => x.Name.localeCompare(y.Name))) {
          if (seenAllocs.has(a.ID)) continue;
          seenAllocs.add(a.ID);
          say(allocLine(a, ev, verbose));
        }
      }
      if (ev.Status !== lastStatus) {
        say(`Evaluation status changed: "${lastStatus}" -> "${ev.Status}"`);
        lastStatus = ev.Status;
      }
      if (evalTerminal(ev)) break;
    }
    if (ev.NextEval && ev.Status === 'complete' && !hasFailures(ev)) {
      say(`Monitoring next evaluation "${shortId(ev.NextEval, verbose)}"`);
      id = ev.NextEval;
      continue;
    }
    return finish(out, ev, verbose, opts);
  }
  out.error(`Stopped after following ${MAX_FOLLOWED_EVALS} evaluations`);
  return 1;
}

function hasFailures(ev: Evaluation): boolean {
  return Object.keys(ev.FailedTGAllocs ?? {}).length > 0;
}

async function finish(out: Output, ev: Evaluation, verbose: boolean, opts: MonitorOptions): Promise<number> {
  const id = shortId(ev.ID, verbose);
  if (!hasFailures(ev)) {
    out.line(`==> Evaluation "${id}" finished with status "${ev.Status}"`);
    if (ev.Status !== 'complete') return 2;
    return (await opts.afterEval?.(ev)) ?? 0;
  }
  out.line(`==> Evaluation "${id}" finished with status "${ev.Status}" but failed to place all allocations:`);
  for (const l of formatFailedPlacements(ev.FailedTGAllocs, 4)) out.line(l);
  if (ev.BlockedEval)
    out.line(`    Evaluation "${shortId(ev.BlockedEval, verbose)}" waiting for additional capacity to place remainder`);
  return 2;
}
