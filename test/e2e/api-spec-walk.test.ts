/**
 * The spec walk: every path and method of Nomad's OpenAPI document (../shared/conformance/nomad/openapi), plus
 * Nomad's paths the document leaves out (agent, client, event stream, services, node pools, ACL, ...), is either
 * served by a real agent (a request does not answer "no API route" nor 405) or listed in docs/api.md, in the
 * "Not supported" table with a reason. A path in neither fails the walk,
 * and so does a path listed as not supported that the agent serves (the table must stay true).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, TestAgent } from './harness/agent.js';

const SPEC = join(ROOT, '..', 'shared', 'conformance', 'nomad', 'openapi', 'nomad-openapi-v1.yaml');
const DOCS = join(ROOT, 'docs', 'api.md');
const METHODS = ['GET', 'PUT', 'POST', 'DELETE'];

/**
 * Nomad's HTTP paths outside its OpenAPI document (command/agent/http.go's handlers), as `METHODS path`, `:name`
 * for a segment. Writes list POST; Nomad takes PUT as well.
 */
const NOMAD_EXTRA = [
  'GET /agent/self',
  'GET /agent/health',
  'GET /agent/members',
  'GET /agent/servers',
  'POST /agent/servers',
  'POST /agent/join',
  'POST /agent/force-leave',
  'GET /agent/host',
  'GET /agent/monitor',
  'GET /agent/schedulers',
  'GET /agent/pprof/profile',
  'GET /agent/keyring/list',
  'GET /client/fs/logs/:alloc',
  'GET /client/fs/ls/:alloc',
  'GET /client/fs/stat/:alloc',
  'GET /client/fs/cat/:alloc',
  'GET /client/fs/readat/:alloc',
  'GET /client/fs/stream/:alloc',
  'GET /client/stats',
  'POST /client/gc',
  'GET /client/metadata',
  'GET /client/allocation/:id/stats',
  'GET /client/allocation/:id/checks',
  'POST /client/allocation/:id/restart',
  'POST /client/allocation/:id/signal',
  'POST /client/allocation/:id/gc',
  'GET /client/allocation/:id/exec',
  'GET /event/stream',
  'GET /services',
  'GET /service/:name',
  'DELETE /service/:name/:id',
  'GET /job/:id/services',
  'GET /job/:id/submission',
  'GET /jobs/statuses',
  'GET /evaluations/count',
  'DELETE /evaluations',
  'GET /node/pools',
  'POST /node/pools',
  'GET /node/pool/:name',
  'DELETE /node/pool/:name',
  'GET /node/pool/:name/nodes',
  'GET /node/pool/:name/jobs',
  'GET /operator/snapshot',
  'POST /operator/snapshot',
  'GET /operator/keyring/keys',
  'POST /operator/keyring/rotate',
  'GET /operator/license',
  'GET /operator/utilization',
  'GET /acl/token/self',
  'GET /acl/roles',
  'GET /acl/auth-methods',
  'GET /acl/binding-rules',
  'POST /acl/login',
  'GET /sentinel/policies',
  'GET /recommendations',
  'GET /volumes/claims',
];

interface Endpoint {
  method: string;
  path: string;
}

const norm = (p: string) =>
  p
    .replace(/\{[^}]+\}/g, ':')
    .replace(/:[A-Za-z_]+/g, ':')
    .replace(/^\/v1/, '');

function specEndpoints(): Endpoint[] {
  const doc = parse(readFileSync(SPEC, 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  const out: Endpoint[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const m of Object.keys(ops))
      if (METHODS.includes(m.toUpperCase())) out.push({ method: m.toUpperCase(), path });
  }
  for (const line of NOMAD_EXTRA) {
    const [method, path] = line.split(' ') as [string, string];
    out.push({ method, path });
  }
  return out;
}

/** Rows of a docs/api.md table under `heading`: `METHOD[/METHOD] /v1/path` in the first cell, reason in the second. */
function docTable(heading: string): Map<string, string> {
  const text = readFileSync(DOCS, 'utf8');
  const start = text.indexOf(`\n## ${heading}`);
  if (start < 0) return new Map();
  const section = text.slice(start + 1).split(/\n## /)[0]!;
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([A-Z/]+) (\/v1\/[^`]+)`\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    for (const method of m[1]!.split('/')) rows.set(`${method} ${norm(m[2]!)}`, m[3]!);
  }
  return rows;
}

describe('the Nomad API spec walk', () => {
  const agent = new TestAgent();
  beforeAll(() => agent.start(), 60_000);
  afterAll(() => agent.stop());

  it("finds Nomad's OpenAPI document", () => {
    expect(existsSync(SPEC)).toBe(true);
    expect(specEndpoints().length).toBeGreaterThan(100);
  });

  it('serves every Nomad path or lists it in docs/api.md with a reason', async () => {
    const unsupported = docTable('Not supported');
    expect(unsupported.size).toBeGreaterThan(0);
    const missing: string[] = [];
    const servedButListed: string[] = [];
    const noReason: string[] = [];
    const seen = new Set<string>();
    for (const e of specEndpoints()) {
      const key = `${e.method} ${norm(e.path)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // A made-up ID in every parameter: enough for the router, and nothing real is touched by a write.
      const url = '/v1' + e.path.replace(/\{[^}]+\}|:[A-Za-z_]+/g, 'spec-walk-0000');
      // Streams (event stream, follow) answer headers and go on: only a 404 or 405 body is read.
      const ac = new AbortController();
      const res = await fetch(agent.address + url, {
        method: e.method,
        body: e.method === 'GET' || e.method === 'DELETE' ? undefined : '{}',
        signal: ac.signal,
      });
      const body = res.status === 404 || res.status === 405 ? await res.text() : '';
      ac.abort();
      const served = res.status !== 405 && !(res.status === 404 && body.startsWith('no API route'));
      if (served) {
        if (unsupported.has(key)) servedButListed.push(key);
        continue;
      }
      const reason = unsupported.get(key);
      if (reason === undefined) missing.push(`${e.method} /v1${e.path}`);
      else if (reason.trim().length < 10) noReason.push(key);
    }
    expect(missing, 'neither served nor listed in docs/api.md').toEqual([]);
    expect(servedButListed, 'served, yet listed as not supported').toEqual([]);
    expect(noReason, 'listed without a reason').toEqual([]);
  }, 120_000);
});
