/**
 * examples/air-quality: runs the README's commands in order (free ports, a temporary directory instead of
 * /tmp/drover-air-quality) and checks what the README promises: PostgreSQL as a Drover job on a host volume,
 * its password from a Drover Variable, the API answering through the gateway with readings stored in
 * PostgreSQL (read back with psql too), the password in no job, allocation, log or answer, bad coordinates
 * refused by name, the data surviving `job stop -purge` and a re-run, and a new password reaching both tasks.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent, type CliResult } from './harness/agent.js';
import { copyExampleFile, readmeCommands, runLine } from './fixtures/examples-support.js';

const work = mkdtempSync(join(tmpdir(), 'drover-exa-airq-'));
const lines = readmeCommands('air-quality');

interface Reading {
  id: number;
  city: string;
  lat: number;
  lon: number;
  aqius: number;
}
interface AllocJSON {
  ID: string;
  TaskGroup: string;
  ClientStatus: string;
  DesiredStatus: string;
}

describe('examples/air-quality', () => {
  const agent = new TestAgent({ args: ['-config', join(work, 'agent.hcl')] });
  /** Every answer the API gave, to look for the password in. */
  const answers: string[] = [];
  let password = '';

  const run = (line: string): CliResult => {
    const r = runLine(line.replaceAll('127.0.0.1:8080', agent.gatewayAddress.replace('http://', '')), {
      DROVER_ADDR: agent.address,
    });
    answers.push(r.stdout);
    return r;
  };
  const json = <T>(r: CliResult): T => JSON.parse(r.stdout) as T;
  /**
   * GETs a URL. Tried twice: the README's commands run synchronously, and a server may close an idle keep-alive
   * connection while the event loop is blocked, which the next request then finds closed.
   */
  const request = async (url: string): Promise<{ status: number; text: string }> => {
    for (let i = 0; ; i++) {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(15_000) });
        return { status: r.status, text: await r.text() };
      } catch (e) {
        if (i > 0 || (e as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw e;
      }
    }
  };
  /** GETs the agent's API; a status other than 200 throws. */
  const get = async (path: string): Promise<string> => {
    const r = await request(`${agent.address}${path}`);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.text}`);
    return r.text;
  };
  /** GETs a path through the gateway, keeping the answer to look for the password in. */
  const viaGateway = async (path: string) => {
    const r = await request(`${agent.gatewayAddress}${path}`);
    answers.push(r.text);
    return r;
  };
  const readPassword = async () =>
    (JSON.parse(await get('/v1/var/nomad/jobs/air-quality')) as { Items: { password: string } }).Items.password;
  /** The running allocation of a group of the job. */
  const alloc = async (group: string) => {
    const list = JSON.parse(await get('/v1/job/air-quality/allocations')) as AllocJSON[];
    const a = list.find((x) => x.TaskGroup === group && x.DesiredStatus === 'run' && x.ClientStatus === 'running');
    if (!a) throw new Error(`no running ${group} allocation`);
    return a;
  };
  /** A task's stdout and stderr, as `drover alloc logs` reads them. */
  const logs = async (group: string, task: string) => {
    const id = (await alloc(group)).ID;
    const read = (type: string) => get(`/v1/client/fs/logs/${id}?task=${task}&type=${type}&plain=true&origin=start`);
    return (await read('stdout')) + (await read('stderr'));
  };
  /** Waits until the gateway routes /air to an API instance whose database answers. */
  const routed = () =>
    expect
      .poll(
        async () => {
          const r = await viaGateway('/air/health').catch(() => undefined);
          return `${r?.status} ${r?.text}`;
        },
        { timeout: 60_000, interval: 500 },
      )
      .toBe('200 {"status":"ok"}\n');
  /** Reads the readings table straight from PostgreSQL with psql, at the address the catalog has. */
  const psqlCities = async (pw: string) => {
    const [db] = JSON.parse(await get('/v1/service/air-quality-db')) as Array<{ Address: string; Port: number }>;
    const r = spawnSync(
      'psql',
      ['-X', '-At', '-h', db!.Address, '-p', String(db!.Port), '-U', 'airq', '-c', 'SELECT city FROM readings'],
      {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, PGDATABASE: 'airquality', PGPASSWORD: pw, PGCONNECT_TIMEOUT: '5' },
      },
    );
    return { code: r.status, out: r.stdout.trim(), err: r.stderr };
  };

  beforeAll(async () => {
    expect(lines).toHaveLength(9);
    // 1. the host volume's directory, owned by postgres
    const mk = runLine(lines[0]!.replaceAll('/tmp/drover-air-quality', work), {});
    expect(mk.code, mk.stderr).toBe(0);
    // 2. the dev agent with the example's config (free ports instead of 4646 and 8080)
    expect(lines[1]).toBe('bin/drover agent -dev -config examples/air-quality/agent.hcl &');
    copyExampleFile('air-quality', 'agent.hcl', join(work, 'agent.hcl'), '/tmp/drover-air-quality', work);
    await agent.start();
    expect(agent.gatewayAddress).not.toBe('');
  }, 60_000);

  afterAll(async () => {
    await agent.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('runs PostgreSQL, the stub and the API, and answers through the gateway with readings stored in PostgreSQL', async () => {
    const put = run(lines[2]!);
    expect(put.code, put.stdout + put.stderr).toBe(0);
    password = await readPassword();
    expect(password).toMatch(/^[0-9a-f]{32}$/);

    const job = run(lines[3]!);
    expect(job.code, job.stdout + job.stderr).toBe(0);
    expect(job.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);

    await routed();
    expect(lines[4]).toBe("curl -s '127.0.0.1:8080/air/air-quality?lat=48.85&lon=2.35'");
    const reading = json<Reading & { country: string }>(run(lines[4]!));
    expect(reading).toMatchObject({ city: 'Paris', country: 'France', aqius: 42 });
    const readings = json<Reading[]>(run(lines[5]!));
    expect(readings.map((r) => [r.id, r.city, r.lat, r.lon, r.aqius])).toEqual([
      [reading.id, 'Paris', 48.85, 2.35, 42],
    ]);
    expect(await psqlCities(password)).toEqual({ code: 0, out: 'Paris', err: '' });
    const cities = await viaGateway('/air/queried-cities');
    expect(JSON.parse(cities.text)).toEqual(['Paris']);
    expect(await logs('db', 'postgres')).toContain('start.sh: first start: initdb into /var/lib/postgresql/data');
  }, 120_000);

  it('answers bad coordinates with a 400 that names the parameter', async () => {
    for (const [query, name, limit] of [
      ['lat=north&lon=2', 'lat', 90],
      ['lat=48&lon=200', 'lon', 180],
      ['lat=48', 'lon', 180],
    ] as const) {
      const r = await viaGateway(`/air/air-quality?${query}`);
      expect(r.status, r.text).toBe(400);
      expect(JSON.parse(r.text)).toEqual({
        error: `query parameter "${name}" must be a number between -${limit} and ${limit}`,
      });
    }
  });

  it('keeps the password out of the job, its allocations, the task logs and every answer', async () => {
    const inspect = agent.cli(['job', 'inspect', 'air-quality']);
    expect(inspect.code, inspect.stderr).toBe(0);
    // The templates are there, with the Variable's path, not its value.
    expect(inspect.stdout).toContain('nomadVar \\"nomad/jobs/air-quality\\"');
    expect(inspect.stdout).not.toContain(password);
    expect(await get('/v1/job/air-quality')).not.toContain(password);
    expect(await get('/v1/job/air-quality/allocations')).not.toContain(password);
    for (const group of ['db', 'api'])
      expect(await get(`/v1/allocation/${(await alloc(group)).ID}`)).not.toContain(password);
    expect(await logs('db', 'postgres')).not.toContain(password);
    expect(await logs('api', 'api')).not.toContain(password);
    expect((await viaGateway('/air/health')).status).toBe(200);
    expect(answers.length).toBeGreaterThan(5);
    for (const a of answers) expect(a).not.toContain(password);
  });

  it('keeps the readings through job stop -purge and a re-run, on the host volume', async () => {
    const stop = run(lines[6]!);
    expect(stop.code, stop.stdout + stop.stderr).toBe(0);
    await expect(get('/v1/job/air-quality')).rejects.toThrow(/: 404 /);
    const again = run(lines[7]!);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/✓ Deployment "[0-9a-f]{8}" successful/);
    await routed();
    expect(json<Reading[]>(run(lines[8]!)).map((r) => [r.city, r.lat, r.lon])).toEqual([['Paris', 48.85, 2.35]]);
    expect(await logs('db', 'postgres')).toContain(
      'start.sh: data directory found in /var/lib/postgresql/data: keeping it',
    );
  }, 120_000);

  it('gives a new password in the Variable to PostgreSQL and the API', async () => {
    const put = run(lines[2]!);
    expect(put.code, put.stdout + put.stderr).toBe(0);
    const old = password;
    password = await readPassword();
    expect(password).not.toBe(old);
    await expect.poll(async () => (await psqlCities(password)).code, { timeout: 60_000, interval: 1_000 }).toBe(0);
    const refused = await psqlCities(old);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('password authentication failed for user "airq"');
    await routed();
    expect(json<Reading>(run(lines[4]!)).city).toBe('Paris');
    expect((await psqlCities(password)).out).toBe('Paris\nParis');
    for (const a of answers) expect(a).not.toContain(password);
  }, 120_000);
});
