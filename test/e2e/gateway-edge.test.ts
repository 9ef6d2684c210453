/**
 * The gateway at the edge as a user of `drover agent -dev` meets it (default data plane: HAProxy when
 * installed): a PostgreSQL job of two instances behind `urlprefix-:PORT proto=tcp` answers psql through the
 * gateway and, after one postmaster is killed, new connections go to the other; a route with `auth=` answers 401
 * without and 200 with the password from a Variable; `weight=0.8` splits 2,000 requests 80/20 within ±5%.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/lib/net.js';
import { sha512Crypt } from '../../src/lib/sha-crypt.js';
import { TestAgent } from './harness/agent.js';

const PG_BIN = (() => {
  try {
    const v = readdirSync('/usr/lib/postgresql').sort().pop();
    return v === undefined ? undefined : `/usr/lib/postgresql/${v}/bin`;
  } catch {
    return undefined;
  }
})();
const HAVE_PG = PG_BIN !== undefined && existsSync(`${PG_BIN}/postgres`) && existsSync('/usr/bin/psql');

/** Answers its service name; CommonJS, run by `node -e`. */
const WEB_JS = `require('node:http').createServer((q, s) => s.end(process.env.WHO)).listen(Number(process.env.NOMAD_PORT_http), '127.0.0.1')`;

function webGroup(name: string, tags: string[]): string {
  return `  group "${name}" {
    network {
      port "http" {}
    }
    service {
      name     = "gwroute-${name}"
      provider = "nomad"
      port     = "http"
      tags     = ${JSON.stringify(tags)}
    }
    task "web" {
      driver = "raw_exec"
      env { WHO = "${name}" }
      config {
        command = "node"
        args    = ["-e", ${JSON.stringify(WEB_JS)}]
      }
      resources {
        cpu    = 20
        memory = 48
      }
      kill_timeout = "1s"
    }
  }`;
}

/**
 * Two PostgreSQL instances, each from a copy of one initdb made by the test; postgres refuses to run as root, so
 * the task starts it as the postgres user with its data in /tmp (the task directory is not theirs to enter).
 */
function pgJob(template: string, gwPort: number): string {
  const script = [
    'set -e',
    'D=/tmp/gwroute-pg-$NOMAD_ALLOC_ID',
    'rm -rf "$D"',
    `cp -a ${template} "$D"`,
    'chown -R postgres "$D"',
    'chmod 700 "$D"',
    `exec runuser -u postgres -- ${PG_BIN}/postgres -D "$D" -p "$NOMAD_PORT_db" -c listen_addresses=127.0.0.1 -k "$D"`,
  ].join('\n');
  return `job "gwroute-pg" {
  datacenters = ["dc1"]
  group "db" {
    count = 2
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    network {
      port "db" {}
    }
    service {
      name     = "gwroute-pg"
      provider = "nomad"
      port     = "db"
      tags     = ["urlprefix-:${gwPort} proto=tcp"]
    }
    task "postgres" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", ${JSON.stringify(script)}]
      }
      resources {
        cpu    = 50
        memory = 128
      }
      kill_timeout = "2s"
    }
  }
}`;
}

/** `select inet_server_port()` through the gateway: which instance answered, or the error. */
function psqlPort(port: number): string {
  try {
    return execFileSync(
      '/usr/bin/psql',
      ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-Atc', 'select inet_server_port()'],
      { encoding: 'utf8', timeout: 10_000, env: { ...process.env, PGCONNECT_TIMEOUT: '5' }, stdio: 'pipe' },
    ).trim();
  } catch (e) {
    return `error: ${(e as { stderr?: string }).stderr ?? String(e)}`;
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const f of readdirSync('/tmp').filter((n) => n.startsWith('gwroute-pg-')))
    rmSync(join('/tmp', f), { recursive: true, force: true });
});

// Reason for the skip: the PostgreSQL part needs Debian's postgresql package (postgres, initdb, psql).
describe.skipIf(!HAVE_PG)('the gateway at the edge of a dev agent', () => {
  const agent = new TestAgent();
  afterAll(async () => {
    await agent.stop();
  });

  it('serves psql over a TCP route, basic auth from a Variable and an 80/20 split', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gwroute-e2e-'));
    dirs.push(dir);
    const template = join(dir, 'pgdata');
    // initdb (the slow part) runs while the agent starts.
    execFileSync('chown', ['postgres', dir]);
    const initdb = new Promise<void>((resolve, reject) => {
      execFile(
        'runuser',
        ['-u', 'postgres', '--', `${PG_BIN}/initdb`, '-D', template, '-U', 'postgres', '--auth=trust', '-N'],
        { timeout: 60_000 },
        (err) => (err ? reject(err) : resolve()),
      );
    });
    await Promise.all([agent.start(), initdb]);
    const gwPort = await freePort();

    const put = await agent.api('/v1/var/gateway/auth/e2e', {
      method: 'PUT',
      body: JSON.stringify({ Items: { alice: sha512Crypt('open-sesame', 'gwroutee2e') } }),
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    writeFileSync(join(dir, 'pg.hcl'), pgJob(template, gwPort));
    writeFileSync(
      join(dir, 'web.hcl'),
      `job "gwroute-web" {\n  datacenters = ["dc1"]\n${webGroup('heavy', ['urlprefix-/split weight=0.8', 'urlprefix-/secure auth=e2e'])}\n${webGroup('light', ['urlprefix-/split'])}\n}\n`,
    );
    for (const f of ['pg.hcl', 'web.hcl']) {
      const run = agent.cli(['job', 'run', '-detach', join(dir, f)]);
      expect(run.code, run.stderr).toBe(0);
    }

    // Basic auth: 401 without credentials, 200 with the Variable's password.
    const gw = agent.gatewayAddress;
    await agent.waitFor('the auth route', async () => {
      const res = await fetch(`${gw}/secure`, { signal: AbortSignal.timeout(5_000) });
      await res.text();
      return res.status === 401 ? true : undefined;
    });
    const withPw = await fetch(`${gw}/secure`, {
      headers: { authorization: 'Basic ' + Buffer.from('alice:open-sesame').toString('base64') },
      signal: AbortSignal.timeout(5_000),
    });
    expect(withPw.status).toBe(200);
    expect(await withPw.text()).toBe('heavy');

    // The split, once both services are behind the route: 2,000 requests, 8 at a time.
    await agent.waitFor('both split services', async () => {
      const routes = (await (await fetch(`${gw}/_drover/gateway/routes`)).json()) as Array<{
        Name: string;
        Targets: unknown[];
      }>;
      return routes.find((r) => r.Name === '/split')?.Targets.length === 2 ? true : undefined;
    });
    // The route table lists both at once; the HAProxy plane applies a new split's weights with a seamless reload,
    // and until that ends the old process still routes to one service. Counting starts once the plane answers
    // from the heavy side too.
    await agent.waitFor('the data plane routing to the heavy side', async () => {
      const res = await fetch(`${gw}/split`, { signal: AbortSignal.timeout(10_000) });
      return (await res.text()) === 'heavy' ? true : undefined;
    });
    const counts: Record<string, number> = {};
    let sent = 0;
    const worker = async () => {
      while (sent < 2000) {
        sent++;
        const res = await fetch(`${gw}/split`, { signal: AbortSignal.timeout(10_000) });
        const who = await res.text();
        counts[who] = (counts[who] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(Object.keys(counts).sort()).toEqual(['heavy', 'light']);
    expect(counts.heavy! / 2000).toBeGreaterThanOrEqual(0.75);
    expect(counts.heavy! / 2000).toBeLessThanOrEqual(0.85);

    // psql through the TCP route reaches both instances.
    const ports = new Set<string>();
    await agent.waitFor('psql through the gateway on both instances', async () => {
      const p = psqlPort(gwPort);
      if (/^\d+$/.test(p)) ports.add(p);
      return ports.size === 2 ? true : undefined;
    });
    // Kill one postmaster: new connections go to the other.
    const victim = [...ports][0]!;
    const pidFile = readdirSync('/tmp')
      .filter((n) => n.startsWith('gwroute-pg-'))
      .map((n) => join('/tmp', n, 'postmaster.pid'))
      .find((f) => existsSync(f) && readFileSync(f, 'utf8').split('\n')[3] === victim);
    expect(pidFile).toBeDefined();
    process.kill(Number(readFileSync(pidFile!, 'utf8').split('\n')[0]), 'SIGKILL');
    const survivor = [...ports][1]!;
    const after: string[] = [];
    for (let i = 0; i < 6; i++) after.push(psqlPort(gwPort));
    expect(after).toEqual(Array(6).fill(survivor));
  }, 120_000);
});
