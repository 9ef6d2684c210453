import { afterEach, describe, expect, it } from 'vitest';
import { isDroverError } from '../errors/index.js';
import type { Job } from '../structs/index.js';
import { nomadMock } from '../testing/nomad-mock.js';
import { admitJob, admittedNamespace, defaultAdmissionSteps, type JobMutator, type JobValidator } from './admission.js';
import type { Server } from './server.js';
import { testServer } from './testing/harness.js';

/** A job as a user writes it: no defaults filled (no Namespace, Priority, Region, ...). */
function userJob(id = 'web'): Job {
  return {
    ID: id,
    TaskGroups: [
      {
        Name: 'web',
        Count: 1,
        Tasks: [
          { Name: 'srv', Driver: 'mock_driver', Config: { run_for: '1s' }, Resources: { CPU: 100, MemoryMB: 64 } },
        ],
      },
    ],
  } as unknown as Job;
}

function constrained(): Job {
  return { ...userJob(), Constraints: [{ LTarget: '${attr.kernel.name}', RTarget: 'linux', Operand: '=' }] } as Job;
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('job admission', () => {
  it('runs every mutator in order before any validator, and validators see the mutated job', () => {
    const seen: string[] = [];
    const mark = (name: string): JobMutator => ({
      name,
      mutate: (job) => {
        seen.push(name);
        return { job: { ...job, Meta: { ...job.Meta, [name]: 'x' } }, warnings: [`${name} warned`] };
      },
    });
    const check: JobValidator = {
      name: 'check',
      validate: (job) => {
        seen.push(`check saw ${Object.keys(job.Meta ?? {}).join(',')}`);
        return { warnings: ['check warned'] };
      },
    };
    const { job, warnings } = admitJob(
      { ...nomadMock.job(), Meta: {} },
      {},
      { mutators: [mark('a'), mark('b')], validators: [check] },
    );
    expect(seen).toEqual(['a', 'b', 'check saw a,b']);
    expect(job.Meta).toMatchObject({ a: 'x', b: 'x' });
    expect(warnings).toEqual(['a warned', 'b warned', 'check warned']);
  });

  it('runs every validator and reports all their problems in one JobValidation error', () => {
    const bad = (name: string): JobValidator => ({
      name,
      validate: () => ({ problems: [{ path: name, message: `${name} is wrong` }] }),
    });
    const e = thrown(() => admitJob(nomadMock.job(), {}, { mutators: [], validators: [bad('One'), bad('Two')] }));
    expect(isDroverError(e) && e.code).toBe('JobValidation');
    expect(isDroverError(e) && e.problems.map((p) => p.path)).toEqual(['One', 'Two']);
  });

  it('fills the defaults on a copy unless the caller hands the job over', () => {
    const mine = userJob();
    const copy = admitJob(mine).job;
    expect(copy.Priority).toBe(50);
    expect(mine.Priority).toBeUndefined();
    const handed = userJob();
    expect(admitJob(handed, { handOver: true }).job).toBe(handed);
    expect(handed.Priority).toBe(50);
  });

  it("puts a job that names no namespace in the request's namespace, and keeps one it names", () => {
    expect(admitJob(userJob(), { namespace: 'prod' }).job.Namespace).toBe('prod');
    expect(admitJob({ ...userJob(), Namespace: 'dev' }, { namespace: 'prod' }).job.Namespace).toBe('dev');
    expect(admitJob(userJob()).job.Namespace).toBe('default');
    // What an HTTP-level check (ACLs) uses before admission runs, so both agree.
    expect([
      admittedNamespace(userJob(), 'prod'),
      admittedNamespace({ Namespace: 'dev' }, 'prod'),
      admittedNamespace(userJob()),
    ]).toEqual(['prod', 'dev', 'default']);
  });

  it('warns about blocks the build does not act on, from what the user wrote', () => {
    const { warnings } = admitJob(constrained(), { supportedFeatures: new Set() }, defaultAdmissionSteps);
    expect(warnings).toEqual(['the "constraint" block is parsed but not yet acted on by Drover: it is ignored']);
    // The restart block is filled in by the defaults, not written by the user: no warning for it.
    expect(admitJob(constrained(), { supportedFeatures: new Set(['constraint']) }).warnings).toEqual([]);
    expect(admitJob(constrained(), {}).warnings).toEqual([]);
  });
});

describe('the server admits every job it is given', () => {
  let s: Server | undefined;
  afterEach(async () => {
    await s?.stop();
  });

  it('refuses to register, plan or validate an invalid job, naming each problem with its path', async () => {
    s = await testServer();
    const job = userJob();
    job.TaskGroups[0]!.Count = -1;
    job.Priority = 500;
    for (const call of [() => s!.jobs.register(job), () => s!.jobs.plan(job, false), () => s!.jobs.validate(job)]) {
      const e = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isDroverError(e) && e.code).toBe('JobValidation');
      const paths = isDroverError(e) ? e.problems.map((p) => p.path) : [];
      expect(paths).toEqual(expect.arrayContaining(['Priority', 'TaskGroups[0].Count']));
    }
    expect((await s.jobs.list({})).value).toEqual([]);
  });

  it("registers a job as written by a user with Nomad's defaults filled and the server's feature warnings", async () => {
    s = await testServer({ supportedFeatures: new Set(['restart']) });
    const res = await s.jobs.register(constrained());
    expect(res.Warnings).toMatch(/"constraint" block/);
    const stored = (await s.jobs.get('default', 'web')).value;
    expect(stored).toMatchObject({ Namespace: 'default', Priority: 50, Type: 'service', Region: 'global' });
    expect(stored.TaskGroups[0]!.RestartPolicy).not.toBeNull();
  });
});
