/**
 * ACLs end to end (issue 12): a real dev agent with `acl { enabled = true }` and an audit log, driven by the real
 * CLI and raw HTTP. Anonymous requests are refused on every path of the route table; a read token reads and
 * cannot write; a namespace-scoped token sees nothing of another namespace (jobs, services, variables, logs); and
 * a raw_exec task's workload identity (NOMAD_TOKEN from `identity { env = true }`) reads its own variables and
 * is refused others.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRouter } from '../../src/http/server.js';
import { ruleFor } from '../../src/http/acl-rules.js';
import { nullLogger } from '../../src/logging/index.js';
import { TestAgent } from './harness/agent.js';

interface AllocStub {
  ID: string;
  ClientStatus: string;
  DesiredStatus: string;
}

const work = mkdtempSync(join(tmpdir(), 'drover-acl-e2e-'));
const cfg = join(work, 'acl.hcl');
writeFileSync(
  cfg,
  `acl { enabled = true }\naudit {\n  enabled = true\n  sink "file" {\n    type = "file"\n    path = "${join(work, 'audit.log')}"\n    rotate_bytes = 10000000\n    rotate_max_files = 2\n  }\n}\n`,
);

describe('ACLs on a dev agent', () => {
  const agent = new TestAgent({ args: ['-config', cfg] });
  let root = '';
  const as = (token: string) => ({ env: { NOMAD_TOKEN: token } });
  const get = (path: string, token?: string) =>
    agent.api<unknown>(path, token ? { headers: { 'X-Nomad-Token': token } } : {});

  beforeAll(async () => {
    await agent.start();
  }, 60_000);
  afterAll(async () => {
    // The harness stops jobs through the API: give it the management token through its fetch.
    if (root) {
      const jobs = await get('/v1/jobs?namespace=*', root);
      for (const j of (jobs.body as { ID: string; Namespace: string }[]) ?? []) {
        await agent.api(`/v1/job/${j.ID}?purge=true&namespace=${j.Namespace}`, {
          method: 'DELETE',
          headers: { 'X-Nomad-Token': root },
        });
      }
    }
    await agent.stop();
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('refuses anonymous requests on every path of the route table that is not public', async () => {
    const routes = buildRouter({
      server: {} as never,
      client: {} as never,
      acl: {} as never,
      agent: { self: () => ({}) },
      logger: nullLogger,
    }).list();
    let refused = 0;
    for (const r of routes) {
      const rule = ruleFor(r.method, r.pattern);
      if (rule?.kind === 'public') continue;
      const path = r.pattern.replace(/:(\w+)/g, 'x').replace(/\*\w+/, 'x/y');
      const res = await agent.api(path, {
        method: r.method,
        body: r.method === 'GET' || r.method === 'DELETE' ? undefined : '{}',
      });
      expect({ route: `${r.method} ${r.pattern}`, status: res.status }).toEqual({
        route: `${r.method} ${r.pattern}`,
        status: 403,
      });
      refused++;
    }
    expect(refused).toBeGreaterThan(60);
    const cli = agent.cli(['job', 'status']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr + cli.stdout).toContain('Permission denied');
  }, 60_000);

  it('bootstraps once with the CLI; a read token reads and cannot write', async () => {
    const boot = agent.cli(['acl', 'bootstrap']);
    expect(boot.code, boot.stderr).toBe(0);
    root = /Secret ID\s+=\s+(\S+)/.exec(boot.stdout)![1]!;
    expect(agent.cli(['acl', 'bootstrap']).stderr).toContain('ACL bootstrap already done');

    writeFileSync(
      join(work, 'reader.hcl'),
      'namespace "default" {\n  policy = "read"\n}\nnode {\n  policy = "read"\n}\n',
    );
    expect(agent.cli(['acl', 'policy', 'apply', 'reader', join(work, 'reader.hcl')], as(root)).code).toBe(0);
    const created = agent.cli(['acl', 'token', 'create', '-name', 'ro', '-policy', 'reader'], as(root));
    expect(created.code, created.stderr).toBe(0);
    const reader = /Secret ID\s+=\s+(\S+)/.exec(created.stdout)![1]!;

    writeFileSync(
      join(work, 'sleep.hcl'),
      'job "sleeper" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config {\n        command = "sleep"\n        args = ["300"]\n      }\n    }\n  }\n}\n',
    );
    const denied = agent.cli(['job', 'run', '-detach', join(work, 'sleep.hcl')], as(reader));
    expect(denied.code).not.toBe(0);
    expect(denied.stderr + denied.stdout).toContain('Permission denied');
    expect(agent.cli(['job', 'run', '-detach', join(work, 'sleep.hcl')], as(root)).code).toBe(0);
    const status = agent.cli(['job', 'status'], { env: { DROVER_TOKEN: reader } });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('sleeper');
    expect(agent.cli(['node', 'status', '-token', reader]).code).toBe(0);
    expect(agent.cli(['job', 'stop', 'sleeper'], as(reader)).code).not.toBe(0);
    expect(agent.cli(['acl', 'token', 'self'], as(reader)).stdout).toContain('ro');
  }, 60_000);

  it('keeps a namespace-scoped token out of another namespace: jobs, services, variables and logs', async () => {
    for (const ns of ['team-a', 'team-b']) expect(agent.cli(['namespace', 'apply', ns], as(root)).code).toBe(0);
    expect(agent.cli(['namespace', 'list'], as(root)).stdout).toMatch(/default[\s\S]*team-a[\s\S]*team-b/);
    const job = (ns: string) =>
      `job "svc-${ns}" {\n  namespace = "${ns}"\n  group "g" {\n    service {\n      name = "svc-${ns}"\n      provider = "nomad"\n    }\n    task "t" {\n      driver = "raw_exec"\n      config {\n        command = "sh"\n        args = ["-c", "echo hello-${ns}; sleep 300"]\n      }\n    }\n  }\n}\n`;
    for (const ns of ['team-a', 'team-b']) {
      writeFileSync(join(work, `${ns}.hcl`), job(ns));
      const r = agent.cli(['job', 'run', '-detach', '-namespace', ns, join(work, `${ns}.hcl`)], as(root));
      expect(r.code, r.stderr).toBe(0);
      expect(agent.cli(['var', 'put', '-namespace', ns, `app/${ns}`, 'k=v'], as(root)).code).toBe(0);
    }
    writeFileSync(join(work, 'team-a-policy.hcl'), 'namespace "team-a" {\n  policy = "write"\n}\n');
    expect(agent.cli(['acl', 'policy', 'apply', 'team-a', join(work, 'team-a-policy.hcl')], as(root)).code).toBe(0);
    const t = /Secret ID\s+=\s+(\S+)/.exec(
      agent.cli(['acl', 'token', 'create', '-policy', 'team-a'], as(root)).stdout,
    )![1]!;

    const allocB = await agent.waitFor('team-b allocation running', async () => {
      const r = await get('/v1/allocations?namespace=team-b', root);
      return (r.body as AllocStub[]).find((a) => a.ClientStatus === 'running');
    });
    await agent.waitFor(
      'team-b service registered',
      async () => ((await get('/v1/service/svc-team-b?namespace=team-b', root)).body as unknown[]).length > 0,
    );

    const jobs = (await get('/v1/jobs?namespace=*', t)).body as { ID: string }[];
    expect(jobs.map((j) => j.ID)).toEqual(['svc-team-a']);
    expect((await get('/v1/job/svc-team-b?namespace=team-b', t)).status).toBe(403);
    expect((await get('/v1/service/svc-team-b?namespace=team-b', t)).status).toBe(403);
    const services = (await get('/v1/services?namespace=*', t)).body as { Namespace: string }[];
    expect(services.every((s) => s.Namespace === 'team-a')).toBe(true);
    expect((await get('/v1/var/app/team-b?namespace=team-b', t)).status).toBe(403);
    expect(((await get('/v1/vars?namespace=*', t)).body as { Path: string }[]).map((v) => v.Path)).toEqual([
      'app/team-a',
    ]);
    expect((await get(`/v1/client/fs/logs/${allocB.ID}?task=t&type=stdout&plain=true`, t)).status).toBe(403);
    const logs = await get(`/v1/client/fs/logs/${allocB.ID}?task=t&type=stdout&plain=true`, root);
    expect(logs.body).toContain('hello-team-b');
    // A job in a namespace nobody created is refused.
    writeFileSync(join(work, 'ghost.hcl'), job('ghost'));
    const ghost = agent.cli(['job', 'run', '-detach', '-namespace', 'ghost', join(work, 'ghost.hcl')], as(root));
    expect(ghost.code).not.toBe(0);
    expect(ghost.stderr + ghost.stdout).toContain('namespace "ghost" does not exist');
  }, 90_000);

  it("gives a task a workload identity that reads its own variables and is refused others'", async () => {
    expect(agent.cli(['var', 'put', 'nomad/jobs/wi', 'mine=yes'], as(root)).code).toBe(0);
    expect(agent.cli(['var', 'put', 'nomad/jobs/other', 'theirs=no'], as(root)).code).toBe(0);
    const script = [
      `own=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Nomad-Token: $NOMAD_TOKEN" ${agent.address}/v1/var/nomad/jobs/wi)`,
      `other=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Nomad-Token: $NOMAD_TOKEN" ${agent.address}/v1/var/nomad/jobs/other)`,
      `write=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"Items":{"a":"b"}}' -H "X-Nomad-Token: $NOMAD_TOKEN" ${agent.address}/v1/var/nomad/jobs/wi)`,
      `jobs=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Nomad-Token: $NOMAD_TOKEN" ${agent.address}/v1/jobs)`,
      `test -s "$NOMAD_SECRETS_DIR/nomad_token" && file=yes || file=no`,
      `echo "own=$own other=$other write=$write jobs=$jobs file=$file"`,
      'sleep 300',
    ].join('; ');
    const hcl = `job "wi" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      identity {\n        env = true\n        file = true\n      }\n      config {\n        command = "sh"\n        args = ["-c", ${JSON.stringify(script).replaceAll('%{', '%%{')}]\n      }\n    }\n  }\n}\n`;
    writeFileSync(join(work, 'wi.hcl'), hcl);
    const run = agent.cli(['job', 'run', '-detach', join(work, 'wi.hcl')], as(root));
    expect(run.code, run.stderr).toBe(0);
    const line = await agent.waitFor('the task to print its answers', async () => {
      const allocs = (await get('/v1/job/wi/allocations', root)).body as AllocStub[];
      const a = allocs.find((x) => x.DesiredStatus === 'run');
      if (!a) return undefined;
      const out = await get(`/v1/client/fs/logs/${a.ID}?task=t&type=stdout&plain=true`, root);
      return typeof out.body === 'string' && out.body.includes('own=') ? out.body : undefined;
    });
    expect(line.trim()).toBe('own=200 other=403 write=403 jobs=403 file=yes');
    const jwks = (await get('/.well-known/jwks.json')).body as { keys: { kty: string; alg: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256' });
  }, 90_000);

  it('writes an audit line for each request with the accessor and the outcome', () => {
    const lines = readFileSync(join(work, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            payload: {
              auth: { accessor_id: string };
              request: { endpoint: string };
              response: { status_code: number };
            };
          },
      );
    expect(
      lines.some((l) => l.payload.auth.accessor_id === 'anonymous' && l.payload.response.status_code === 403),
    ).toBe(true);
    expect(
      lines.some(
        (l) =>
          l.payload.auth.accessor_id.startsWith('workload:') &&
          l.payload.request.endpoint === '/v1/var/nomad/jobs/wi' &&
          l.payload.response.status_code === 200,
      ),
    ).toBe(true);
  });

  it('ends an open event stream with an error line once its token is deleted, expires or loses its policy', async () => {
    /** Opens the stream with `token`; `text()` is what arrived so far, `done` resolves when the server ends it. */
    const open = async (token: string) => {
      const res = await fetch(`${agent.address}/v1/event/stream?topic=Job`, {
        headers: { 'X-Nomad-Token': token },
        signal: AbortSignal.timeout(60_000),
      });
      expect(res.status).toBe(200);
      let text = '';
      const decoder = new TextDecoder();
      const reader = res.body!.getReader();
      const done = (async () => {
        for (;;) {
          const { value, done: end } = await reader.read();
          if (end) return text;
          text += decoder.decode(value);
        }
      })();
      return { text: () => text, done };
    };
    const token = (args: string[]) => {
      const r = agent.cli(['acl', 'token', 'create', '-json', ...args], as(root));
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { SecretID: string; AccessorID: string };
    };
    writeFileSync(join(work, 'streamer.hcl'), 'namespace "default" {\n  policy = "read"\n}\n');
    expect(agent.cli(['acl', 'policy', 'apply', 'streamer', join(work, 'streamer.hcl')], as(root)).code).toBe(0);

    // Deleted: the stream delivers events while the token lives, then ends with "ACL token not found".
    const doomed = token(['-name', 'doomed', '-policy', 'streamer']);
    const s1 = await open(doomed.SecretID);
    expect(agent.cli(['job', 'run', '-detach', join(work, 'sleep.hcl')], as(root)).code).toBe(0);
    await expect.poll(() => s1.text(), { timeout: 15_000 }).toContain('"Topic":"Job"');
    expect(agent.cli(['acl', 'token', 'delete', doomed.AccessorID], as(root)).code).toBe(0);
    expect(await s1.done).toMatch(/\{"Error":"ACL token not found","Code":"ACLTokenNotFound"\}\n$/);

    // Expired: a token with a 3 s TTL, no event needed.
    const brief = token(['-name', 'brief', '-policy', 'streamer', '-ttl', '3s']);
    const s2 = await open(brief.SecretID);
    expect(await s2.done).toMatch(/"Error":"ACL token expired"/);

    // Its only policy deleted: the token still exists but may no longer read the stream.
    const orphan = token(['-name', 'orphan', '-policy', 'streamer']);
    const s3 = await open(orphan.SecretID);
    expect(agent.cli(['acl', 'policy', 'delete', 'streamer'], as(root)).code).toBe(0);
    expect(await s3.done).toMatch(/"Error":"Permission denied"/);
    // And it cannot open a new one.
    const again = await fetch(`${agent.address}/v1/event/stream?topic=Job`, {
      headers: { 'X-Nomad-Token': orphan.SecretID },
    });
    expect(again.status).toBe(403);
    await again.body?.cancel();
  }, 90_000);

  it('refuses bad input with a clear error and stores nothing: a malformed policy, an expired token, a dropped policy', async () => {
    writeFileSync(join(work, 'broken.hcl'), 'namespace "default" {\n  policy = "reed"\n}\n');
    const bad = agent.cli(['acl', 'policy', 'apply', 'broken', join(work, 'broken.hcl')], as(root));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(/reed/);
    const listed = await get('/v1/acl/policies', root);
    expect((listed.body as { Name: string }[]).map((p) => p.Name)).not.toContain('broken');

    const brief = agent.cli(
      ['acl', 'token', 'create', '-json', '-name', 'brief2', '-type', 'management', '-ttl', '1s'],
      as(root),
    );
    expect(brief.code, brief.stderr).toBe(0);
    const briefSecret = (JSON.parse(brief.stdout) as { SecretID: string }).SecretID;
    await expect
      .poll(
        async () => {
          const r = await get('/v1/jobs', briefSecret);
          return `${r.status} ${JSON.stringify(r.body)}`;
        },
        { timeout: 15_000 },
      )
      .toMatch(/^403 .*ACL token expired/);

    writeFileSync(join(work, 'temp.hcl'), 'namespace "default" {\n  policy = "read"\n}\n');
    expect(agent.cli(['acl', 'policy', 'apply', 'temp', join(work, 'temp.hcl')], as(root)).code).toBe(0);
    const linked = agent.cli(['acl', 'token', 'create', '-json', '-name', 'linked', '-policy', 'temp'], as(root));
    const linkedSecret = (JSON.parse(linked.stdout) as { SecretID: string }).SecretID;
    expect((await get('/v1/jobs', linkedSecret)).status).toBe(200);
    expect(agent.cli(['acl', 'policy', 'delete', 'temp'], as(root)).code).toBe(0);
    const after = await get('/v1/jobs', linkedSecret);
    expect(after.status).toBe(403);
    expect(JSON.stringify(after.body)).toContain('Permission denied');
  }, 60_000);
});
