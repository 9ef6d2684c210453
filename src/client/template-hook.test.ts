import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Allocation, Node, Task, TaskEvent, TaskGroup, Template } from '../structs/index.js';
import type { TaskDriver } from '../drivers/index.js';
import { nullLogger } from '../logging/index.js';
import { testHttpApi } from '../http/testing/test-api.js';
import { testServer } from '../server/testing/harness.js';
import { build } from '../testing/builders.js';
import type { Server } from '../server/index.js';
import { HttpServerRPC } from './rpc-http.js';
import type { ServerRPC } from './rpc.js';
import type { TaskHookContext } from './hooks.js';
import { TemplateHook } from './template-hook.js';
import { taskDirs, buildTaskDir } from './alloc-dir.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tmpl(over: Partial<Template>): Template {
  return {
    SourcePath: '',
    DestPath: 'local/out.txt',
    EmbeddedTmpl: '',
    ChangeMode: 'restart',
    ChangeSignal: '',
    Splay: 0,
    Perms: '0644',
    LeftDelim: '{{',
    RightDelim: '}}',
    Envvars: false,
    ErrMissingKey: false,
    ...over,
  };
}

async function server(): Promise<Server> {
  const s = await testServer();
  cleanups.push(() => s.stop());
  return s;
}

interface Harness {
  hook: TemplateHook;
  ctx: TaskHookContext;
  events: TaskEvent[];
  calls: string[];
  dest: string;
  abort: AbortController;
}

function harness(rpc: ServerRPC, templates: Template[], opts: { execExit?: number } = {}): Harness {
  const data = mkdtempSync(join(tmpdir(), 'drover-tpl-'));
  cleanups.push(() => rmSync(data, { recursive: true, force: true }));
  const alloc = { ID: 'a1', Namespace: 'default', JobID: 'tpl', TaskGroup: 'g' } as Allocation;
  const task = { Name: 'web', Templates: templates } as Task;
  const dirs = taskDirs(data, alloc.ID, task.Name);
  buildTaskDir(dirs);
  const events: TaskEvent[] = [];
  const calls: string[] = [];
  const abort = new AbortController();
  cleanups.push(() => abort.abort());
  const driver = {
    execTask: async (id: string, cmd: string[]) => {
      calls.push(`exec ${id} ${cmd.join(' ')}`);
      return { stdout: '', stderr: '', exitCode: opts.execExit ?? 0 };
    },
  } as unknown as TaskDriver;
  const node = {
    ID: 'n1',
    Name: 'node-one',
    Datacenter: 'dc1',
    NodeClass: '',
    Attributes: { 'cpu.numcores': '8' },
    Meta: {},
  } as unknown as Node;
  const env = { NOMAD_TASK_NAME: 'web', NOMAD_PORT_http: '8080' };
  const ctx: TaskHookContext = {
    alloc,
    group: { Name: 'g' } as TaskGroup,
    task,
    dirs,
    env,
    interpolation: { env },
    driver,
    logger: nullLogger,
    signal: abort.signal,
    emitEvent: (ev) => events.push(ev),
    restart: async (reason) => void calls.push(`restart: ${reason}`),
    signalTask: async (sig, reason) => void calls.push(`signal ${sig}: ${reason}`),
    kill: async (reason) => void calls.push(`kill: ${reason}`),
  };
  const hook = new TemplateHook(
    { rpc, node: () => node, allocDir: () => join(data, 'alloc', alloc.ID), now: () => 1_000 },
    task,
  );
  cleanups.push(() => hook.stop());
  return { hook, ctx, events, calls, dest: join(dirs.dir, 'local/out.txt'), abort };
}

const GREETING = '{{ with nomadVar "nomad/jobs/tpl" }}{{ .greeting }}{{ end }}';

describe('the template hook', () => {
  it('holds the task until the variable exists, reporting what is missing, then writes the file with its perms', async () => {
    const s = await server();
    const h = harness(s, [tmpl({ EmbeddedTmpl: `greeting=${GREETING}\n`, Perms: '0600' })]);
    let started = false;
    const pre = h.hook.prestart(h.ctx).then((r) => ((started = true), r));
    await expect
      .poll(() => h.events.some((e) => e.Type === 'Template'), { timeout: 3_000, message: 'a Missing event' })
      .toBe(true);
    expect(h.events[0]!.DisplayMessage).toBe('Missing: nomad.var.block(nomad/jobs/tpl@default)');
    expect(started).toBe(false);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi' } });
    await pre;
    expect(readFileSync(h.dest, 'utf8')).toBe('greeting=hi\n');
    expect(statSync(h.dest).mode & 0o777).toBe(0o600);
  });

  it("re-renders when the variable changes and restarts the task with Nomad's reason", async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi' } });
    const h = harness(s, [tmpl({ EmbeddedTmpl: GREETING })]);
    await h.hook.prestart(h.ctx);
    expect(readFileSync(h.dest, 'utf8')).toBe('hi');
    expect(h.calls).toEqual([]);
    await s.vars
      .put({ Namespace: 'default', Path: 'nomad/jobs/other-unrelated', Items: { x: '1' } })
      .catch(() => undefined);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi2' } });
    await expect.poll(() => h.calls.length > 0, { timeout: 3_000, message: 'the change_mode' }).toBe(true);
    expect(readFileSync(h.dest, 'utf8')).toBe('hi2');
    expect(h.calls).toEqual(['restart: Template with change_mode restart re-rendered']);
  });

  it('restarts once when several templates re-render from the same change', async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi' } });
    const h = harness(s, [
      tmpl({ EmbeddedTmpl: GREETING, DestPath: 'local/a' }),
      tmpl({
        EmbeddedTmpl: `G=${GREETING}`,
        DestPath: 'local/b.env',
        Envvars: true,
        ChangeMode: 'signal',
        ChangeSignal: 'SIGUSR1',
      }),
    ]);
    await h.hook.prestart(h.ctx);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi2' } });
    await expect.poll(() => h.calls.length > 0, { timeout: 3_000, message: 'the change_mode' }).toBe(true);
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 200));
    expect(h.calls).toEqual(['restart: Template with change_mode restart re-rendered']);
    expect((await h.hook.prestart(h.ctx)).env).toEqual({ G: 'hi2' });
  });

  it('signals, runs the change script, or does nothing, as change_mode says', async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi' } });
    const h = harness(s, [
      tmpl({ EmbeddedTmpl: GREETING, DestPath: 'local/a', ChangeMode: 'signal', ChangeSignal: 'SIGHUP' }),
      tmpl({
        EmbeddedTmpl: GREETING,
        DestPath: 'local/b',
        ChangeMode: 'script',
        ChangeScript: { Command: '/bin/reload', Args: ['-q'], Timeout: 2e9, FailOnError: false },
      }),
      tmpl({ EmbeddedTmpl: GREETING, DestPath: 'local/c', ChangeMode: 'noop' }),
    ]);
    await h.hook.prestart(h.ctx);
    await h.hook.poststart(h.ctx, { config: { id: 'task-1' } } as never);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hey' } });
    await expect.poll(() => h.calls.length >= 2, { timeout: 3_000, message: 'signal and script' }).toBe(true);
    await expect
      .poll(() => readFileSync(join(h.ctx.dirs.dir, 'local/c'), 'utf8') === 'hey', {
        timeout: 3_000,
        message: 'the noop template re-rendered',
      })
      .toBe(true);
    expect([...h.calls].sort()).toEqual(['exec task-1 /bin/reload -q', 'signal SIGHUP: Template re-rendered']);
    expect(h.events.map((e) => e.DisplayMessage)).toContain(
      'Template successfully ran script /bin/reload with arguments: [-q]. Exit code: 0',
    );
  });

  it('kills the task when a failing change script has fail_on_error', async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi' } });
    const h = harness(
      s,
      [
        tmpl({
          EmbeddedTmpl: GREETING,
          ChangeMode: 'script',
          ChangeScript: { Command: '/bin/false', Args: null, Timeout: 1e9, FailOnError: true },
        }),
      ],
      { execExit: 3 },
    );
    await h.hook.prestart(h.ctx);
    await h.hook.poststart(h.ctx, { config: { id: 't' } } as never);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'x' } });
    await expect
      .poll(() => h.calls.some((c) => c.startsWith('kill:')), { timeout: 3_000, message: 'the kill' })
      .toBe(true);
    expect(h.calls.find((c) => c.startsWith('kill:'))).toBe(
      'kill: Template failed to run script /bin/false with arguments [] on change: Exit code: 3',
    );
  });

  it('after an agent restart, watches again and applies change_mode only if the data changed meanwhile', async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'hi' } });
    const first = harness(s, [
      tmpl({ EmbeddedTmpl: GREETING, DestPath: 'local/a' }),
      tmpl({ EmbeddedTmpl: GREETING, DestPath: 'local/b' }),
    ]);
    await first.hook.prestart(first.ctx);
    await first.hook.stop();
    // The same task directory, a new hook: the agent came back and re-attached to the running task.
    const again = new TemplateHook(
      { rpc: s, node: () => undefined, allocDir: () => join(first.ctx.dirs.dir, '..'), now: () => 1 },
      first.ctx.task,
    );
    cleanups.push(() => again.stop());
    await again.recovered(first.ctx, { config: { id: 't2' } } as never);
    // A fixed wait on purpose: this checks that something does NOT happen, and no event marks "it would have
    // by now"; the wait is several times what it takes when it does happen.
    await new Promise((r) => setTimeout(r, 200));
    expect(first.calls).toEqual([]);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'later' } });
    await expect
      .poll(() => first.calls.length > 0, { timeout: 3_000, message: 'the restart after recovery' })
      .toBe(true);
    expect(first.calls).toEqual(['restart: Template with change_mode restart re-rendered']);
    expect(readFileSync(join(first.ctx.dirs.dir, 'local/b'), 'utf8')).toBe('later');
    await again.stop();

    // Changed while no agent watched: the recovered hook's first render differs from the files, so it restarts.
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'while-away' } });
    const third = new TemplateHook(
      { rpc: s, node: () => undefined, allocDir: () => join(first.ctx.dirs.dir, '..'), now: () => 1 },
      first.ctx.task,
    );
    cleanups.push(() => third.stop());
    await third.recovered(first.ctx, { config: { id: 't3' } } as never);
    await expect
      .poll(() => first.calls.length === 2, { timeout: 3_000, message: 'the restart for the change made while away' })
      .toBe(true);
    expect(readFileSync(join(first.ctx.dirs.dir, 'local/a'), 'utf8')).toBe('while-away');
  });

  it('adds the variables of an env = true template to the task env', async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl/g', Items: { db: 'postgres://x' } });
    const h = harness(s, [
      tmpl({
        EmbeddedTmpl:
          'DB_URL={{ with nomadVar "nomad/jobs/tpl/g" }}{{ .db }}{{ end }}\nCORES={{ env "attr.cpu.numcores" }}\nNODE={{ env "node.unique.name" }}\nPORT={{ env "NOMAD_PORT_http" }}\n',
        DestPath: 'secrets/app.env',
        Envvars: true,
      }),
    ]);
    const r = await h.hook.prestart(h.ctx);
    expect(r.env).toEqual({ DB_URL: 'postgres://x', CORES: '8', NODE: 'node-one', PORT: '8080' });
  });

  it('refuses a variable outside the paths the task may read, naming it', async () => {
    const s = await server();
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/other', Items: { k: 'v' } });
    const h = harness(s, [tmpl({ EmbeddedTmpl: '{{ with nomadVar "nomad/jobs/other" }}{{ .k }}{{ end }}' })]);
    await expect(h.hook.prestart(h.ctx)).rejects.toThrow(
      /Template failed: .*Permission denied: .*"nomad\/jobs\/other"/,
    );
  });

  it('refuses a destination outside the allocation directory', async () => {
    const s = await server();
    const h = harness(s, [tmpl({ EmbeddedTmpl: 'x', DestPath: '../../../escape.txt' })]);
    await expect(h.hook.prestart(h.ctx)).rejects.toThrow(/outside the allocation directory/);
  });

  it('waits over HTTP for a variable that does not exist yet (404 with an index), then re-renders on change', async () => {
    const s = await server();
    // As on any real agent, something was written before (here a node): on a store whose very first write is
    // the variable, a blocking query sent just before that write could not tell index 1 from "empty".
    await s.nodeRegister(build.node({ ID: 'n1' }));
    const http = await testHttpApi({ server: s });
    cleanups.push(() => http.close());
    const h = harness(new HttpServerRPC(http.address), [tmpl({ EmbeddedTmpl: GREETING })]);
    const pre = h.hook.prestart(h.ctx);
    await expect
      .poll(() => h.events.some((e) => e.Type === 'Template'), { timeout: 3_000, message: 'a Missing event' })
      .toBe(true);
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'remote' } });
    await pre;
    expect(readFileSync(h.dest, 'utf8')).toBe('remote');
    await s.vars.put({ Namespace: 'default', Path: 'nomad/jobs/tpl', Items: { greeting: 'remote2' } });
    await expect.poll(() => h.calls.length === 1, { timeout: 3_000, message: 'the restart' }).toBe(true);
    expect(readFileSync(h.dest, 'utf8')).toBe('remote2');
  });

  it('follows the catalog over HTTP: passing instances only, re-rendered as instances come and go', async () => {
    const s = await server();
    const http = await testHttpApi({ server: s });
    cleanups.push(() => http.close());
    const reg = (id: string, port: number, status?: 'passing' | 'critical') => ({
      ID: id,
      ServiceName: 'backend',
      Namespace: 'default',
      NodeID: 'n1',
      Datacenter: 'dc1',
      JobID: 'b',
      AllocID: id,
      Tags: [],
      Address: '127.0.0.1',
      Port: port,
      CreateIndex: 0,
      ModifyIndex: 0,
      ...(status ? { Status: status } : {}),
    });
    await s.upsertServiceRegistrations([reg('b1', 9001), reg('b2', 9002, 'critical')]);
    const h = harness(new HttpServerRPC(http.address), [
      tmpl({
        EmbeddedTmpl:
          '{{ range nomadService "backend" }}server {{ .Address }}:{{ .Port }};\n{{ else }}server 127.0.0.1:65535;\n{{ end }}',
        ChangeMode: 'signal',
        ChangeSignal: 'SIGHUP',
      }),
    ]);
    await h.hook.prestart(h.ctx);
    expect(readFileSync(h.dest, 'utf8')).toBe('server 127.0.0.1:9001;\n');
    await s.upsertServiceRegistrations([reg('b3', 9003)]);
    await expect
      .poll(() => readFileSync(h.dest, 'utf8') === 'server 127.0.0.1:9001;\nserver 127.0.0.1:9003;\n', {
        timeout: 3_000,
        message: 'the new instance',
      })
      .toBe(true);
    await s.deleteServiceRegistrations(['b1', 'b3']);
    await expect
      .poll(() => readFileSync(h.dest, 'utf8') === 'server 127.0.0.1:65535;\n', {
        timeout: 3_000,
        message: 'the fallback',
      })
      .toBe(true);
    await expect.poll(() => h.calls.length === 2, { timeout: 3_000, message: 'two reloads' }).toBe(true);
  });
});
