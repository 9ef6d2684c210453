import { beforeEach, describe, expect, it } from 'vitest';
import { nodeStub } from '../testing/fixtures.js';
import { drainSpec } from './node-drain.js';
import { withFakeNomad } from '../testing/run-cli.js';

const nomad = withFakeNomad();
const cli = nomad.cli;

const NODE = 'n1n1n1n1-0000-4000-8000-000000000001';

describe('drover node drain and eligibility', () => {
  beforeEach(() => {
    nomad.fake.on('GET', '/v1/nodes', { index: 5, body: [nodeStub()] });
  });

  it('starts a drain with the deadline in nanoseconds and system jobs left alone', async () => {
    nomad.fake.on('POST', `/v1/node/${NODE}/drain`, { body: { EvalIDs: [], EvalCreateIndex: 6, NodeModifyIndex: 6 } });
    const r = await cli(['node', 'drain', '-enable', '-deadline', '30m', '-ignore-system', '-yes', '-detach', 'n1n1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Node "${NODE}" drain strategy set\n`);
    expect(nomad.fake.requests[1]?.body).toEqual({
      NodeID: NODE,
      DrainSpec: { Deadline: 1800e9, IgnoreSystemJobs: true },
      MarkEligible: false,
      Meta: null,
    });
  });

  it('follows the drain to its end without -detach, printing the drain events', async () => {
    nomad.fake.on('POST', `/v1/node/${NODE}/drain`, { body: { EvalIDs: [], EvalCreateIndex: 6, NodeModifyIndex: 6 } });
    const events = [
      {
        Message: 'Node drain complete',
        Subsystem: 'Drain',
        Details: null,
        Timestamp: '2026-01-01T00:00:00.000Z',
        CreateIndex: 9,
      },
    ];
    nomad.fake.on('GET', `/v1/node/${NODE}`, { index: 9, body: { ID: NODE, DrainStrategy: null, Events: events } });
    const r = await cli(['node', 'drain', '-enable', 'n1n1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2026-01-01T00:00:00.000Z: Node drain complete');
    expect(r.stdout).toContain(`Drain complete for node ${NODE}`);
  });

  it('ends a drain and makes the node eligible again', async () => {
    nomad.fake.on('POST', `/v1/node/${NODE}/drain`, { body: { EvalIDs: [], EvalCreateIndex: 6, NodeModifyIndex: 6 } });
    await cli(['node', 'drain', '-disable', 'n1n1']);
    expect(nomad.fake.requests[1]?.body).toMatchObject({ DrainSpec: null, MarkEligible: true });
  });

  it('needs exactly one of -enable and -disable', async () => {
    const r = await cli(['node', 'eligibility', 'n1n1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('exactly one of -enable or -disable');
  });

  it('sets eligibility', async () => {
    nomad.fake.on('POST', `/v1/node/${NODE}/eligibility`, {
      body: { EvalIDs: null, EvalCreateIndex: 0, NodeModifyIndex: 7 },
    });
    const r = await cli(['node', 'eligibility', '-disable', 'n1n1']);
    expect(r.stdout).toBe(`Node "${NODE}" scheduling eligibility set: ineligible for scheduling\n`);
    expect(nomad.fake.requests[1]?.body).toEqual({ NodeID: NODE, Eligibility: 'ineligible' });
  });

  it('turns -force and -no-deadline into nomad deadlines', () => {
    expect(drainSpec({ force: true }).Deadline).toBe(-1);
    expect(drainSpec({ deadline: false }).Deadline).toBe(0);
    expect(drainSpec({}).Deadline).toBe(3600e9);
    expect(() => drainSpec({ deadline: 'soon' })).toThrow('invalid -deadline "soon"');
  });
});
