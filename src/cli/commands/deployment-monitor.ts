/**
 * Follows a deployment to its end with blocking queries, as `nomad deployment status -monitor` and
 * `nomad job run` do when not attached to a terminal: the progress table each time it changes, then
 * the outcome. A failed deployment that auto-reverts hands over to the rollback's deployment.
 *
 *   running / paused ──(blocking GET /v1/deployment/:id?index=N)──► progress changed? print the table
 *   successful ──► "✓ Deployment "x" successful", exit 0
 *   failed ──► "! Deployment "x" failed" ──(rolling back?)──► monitor the rollback's deployment; exit 1
 *   cancelled ──► "! Deployment "x" cancelled", exit 1
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DroverClient } from '../../api/index.js';
import type { Deployment } from '../../structs/index.js';
import { shortId } from '../format.js';
import type { Output } from '../output.js';
import { deploymentView } from './deployment-view.js';

export interface DeploymentMonitorOptions {
  verbose?: boolean;
  signal?: AbortSignal;
  /** How long one blocking query may wait on the server (ms). */
  waitMs?: number;
  /** How long to look for the rollback's deployment after an auto-revert (ms). */
  rollbackWaitMs?: number;
}

const MAX_ROLLBACKS = 3;

function progressKey(d: Deployment): string {
  return JSON.stringify([
    d.Status,
    d.StatusDescription,
    Object.entries(d.TaskGroups ?? {}).map(([g, s]) => [
      g,
      s.Promoted,
      s.PlacedAllocs,
      s.HealthyAllocs,
      s.UnhealthyAllocs,
    ]),
  ]);
}

const ROLLBACK = /rolling back to job version (\d+)/;

/** Monitors deployment `id` (and an auto-revert's rollback); returns 0 when it succeeded. */
export async function monitorDeployment(
  client: DroverClient,
  out: Output,
  id: string,
  opts: DeploymentMonitorOptions = {},
): Promise<number> {
  const verbose = opts.verbose ?? false;
  let current = id;
  let code = 0;
  for (let hop = 0; hop <= MAX_ROLLBACKS; hop++) {
    const d = await follow(client, out, current, opts);
    const name = shortId(d.ID, verbose);
    if (d.Status === 'successful') {
      out.line(`  ✓ Deployment "${name}" successful`);
      out.line();
      out.line(indented(deploymentView(d, verbose)));
      return code;
    }
    out.line(`  ! Deployment "${name}" ${d.Status}`);
    out.line();
    out.line(indented(deploymentView(d, verbose)));
    code = 1;
    const rollback = ROLLBACK.exec(d.StatusDescription);
    if (d.Status !== 'failed' || !rollback) return code;
    const next = await rollbackDeployment(client, d, opts);
    if (next == null) return code;
    out.line();
    out.line(`==> Monitoring rollback to job version ${rollback[1]}: deployment "${shortId(next.ID, verbose)}"`);
    current = next.ID;
  }
  return code;
}

function indented(text: string): string {
  return text
    .split('\n')
    .map((l) => (l ? `    ${l}` : l))
    .join('\n');
}

/** Blocks until the deployment is terminal, printing its progress when it changes. */
async function follow(
  client: DroverClient,
  out: Output,
  id: string,
  opts: DeploymentMonitorOptions,
): Promise<Deployment> {
  out.line(`==> Monitoring deployment "${shortId(id, opts.verbose)}"`);
  let index = 0;
  let last = '';
  for (;;) {
    const r = await client.deployments.get(id, { index, wait: opts.waitMs ?? 30_000, signal: opts.signal });
    index = r.index;
    const d = r.value;
    if (d.Status !== 'running' && d.Status !== 'paused' && d.Status !== 'pending') return d;
    const key = progressKey(d);
    if (key !== last) {
      last = key;
      const groups = Object.entries(d.TaskGroups ?? {}).map(
        ([g, s]) =>
          `${g}: ${s.HealthyAllocs}/${s.DesiredTotal} healthy, ${s.PlacedAllocs} placed, ${s.UnhealthyAllocs} unhealthy`,
      );
      out.line(`    ${new Date().toISOString()}: ${d.StatusDescription} (${groups.join('; ')})`);
    }
  }
}

/** The deployment of the job version an auto-revert registered, once the scheduler created it. */
async function rollbackDeployment(
  client: DroverClient,
  failed: Deployment,
  opts: DeploymentMonitorOptions,
): Promise<Deployment | undefined> {
  const until = Date.now() + (opts.rollbackWaitMs ?? 10_000);
  while (Date.now() < until) {
    const latest = (
      await client.jobs.latestDeployment(failed.JobID, { namespace: failed.Namespace, signal: opts.signal })
    ).value;
    if (latest && latest.ID !== failed.ID && latest.CreateIndex > failed.CreateIndex) return latest;
    await sleep(250, undefined, { signal: opts.signal });
  }
  return undefined;
}
