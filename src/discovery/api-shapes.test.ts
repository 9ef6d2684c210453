/**
 * The catalog and variables shapes against Nomad's own API types (the conformance data in shared/): every
 * field Nomad's Go client decodes is present, under its JSON name, with a JSON type Go can decode into it.
 */
import { expect, it } from 'vitest';
import { HAS_CONFORMANCE_DATA, readConformanceJson } from '../testing/conformance-data.js';
import { describeConformance } from '../testing/describe-conformance.js';
import { catalogIndex, filterService, serviceListStubs } from './catalog.js';
import { buildServiceWorkloads } from './registrations.js';
import { applyVariableWrite, listVariables } from './variables.js';
import { fixtureAlloc, fixtureJob, fixtureReg } from './testing/fixtures.js';

interface Field {
  json: string;
  type: string;
  omitempty?: boolean;
}
const types: Record<string, { fields: Field[] | null }> = HAS_CONFORMANCE_DATA
  ? readConformanceJson('api-shapes', 'api-types.head.json')
  : {};

/** Problems decoding `value` as Nomad's Go type `type`; empty when Go's encoding/json would accept it. */
function conform(value: unknown, type: string, at: string): string[] {
  if (type.startsWith('*')) return value === null ? [] : conform(value, type.slice(1), at);
  if (type.startsWith('[]')) {
    if (value === null) return [];
    if (!Array.isArray(value)) return [`${at}: expected array for ${type}`];
    return value.flatMap((v, i) => conform(v, type.slice(2), `${at}[${i}]`));
  }
  if (type === 'string') return typeof value === 'string' ? [] : [`${at}: expected string`];
  if (/^u?int(8|16|32|64)?$/.test(type)) {
    if (typeof value !== 'number' || !Number.isInteger(value)) return [`${at}: expected integer`];
    return type.startsWith('u') && value < 0 ? [`${at}: expected unsigned`] : [];
  }
  if (type === 'VariableItems') {
    const ok =
      value !== null && typeof value === 'object' && Object.values(value as object).every((v) => typeof v === 'string');
    return ok ? [] : [`${at}: expected map of strings`];
  }
  const t = types[type];
  if (!t) return [`${at}: unknown Nomad type ${type}`];
  if (value === null || typeof value !== 'object') return [`${at}: expected object ${type}`];
  const obj = value as Record<string, unknown>;
  return (t.fields ?? []).flatMap((f) => {
    if (!(f.json in obj)) return f.omitempty ? [] : [`${at}.${f.json}: missing`];
    return conform(obj[f.json], f.type, `${at}.${f.json}`);
  });
}

describeConformance("the catalog in Nomad's API shapes", () => {
  const [built] = buildServiceWorkloads({
    alloc: fixtureAlloc(fixtureJob({ taskServices: [{ Name: 'web', PortLabel: 'http', Tags: ['a'] }] })),
    node: { ID: 'n', Datacenter: 'dc1' },
    advertiseIP: '10.0.0.9',
    task: 'web',
  });
  const regs = [built!.registration, fixtureReg({ Tags: null }), fixtureReg({ Namespace: 'prod' })];

  it('answers GET /v1/services as []ServiceRegistrationListStub', () => {
    const body = JSON.parse(JSON.stringify(serviceListStubs(regs))) as unknown[];
    expect(body.length).toBeGreaterThan(0);
    expect(body.flatMap((x, i) => conform(x, 'ServiceRegistrationListStub', `[${i}]`))).toEqual([]);
  });

  it('answers GET /v1/service/:name as []ServiceRegistration, built or stored', () => {
    const body = JSON.parse(JSON.stringify(filterService(regs, { name: 'web', namespace: '*' }))) as unknown[];
    expect(body).toHaveLength(3);
    expect(body.flatMap((x, i) => conform(x, 'ServiceRegistration', `[${i}]`))).toEqual([]);
    expect(Number.isInteger(catalogIndex(regs))).toBe(true);
  });

  it('answers variables as Variable and VariableMetadata', () => {
    const w = applyVariableWrite(
      undefined,
      { Namespace: 'default', Path: 'nomad/jobs/web', Items: { a: '1' } },
      { index: 3, now: 1_700_000_000_000_000_000 },
    );
    if (!w.ok) throw new Error('write refused');
    expect(conform(JSON.parse(JSON.stringify(w.variable)), 'Variable', 'var')).toEqual([]);
    const list = listVariables([w.variable!], { namespace: '*' }).items;
    expect(conform(JSON.parse(JSON.stringify(list)), '[]VariableMetadata', 'list')).toEqual([]);
  });

  it('has a checker that notices a wrong shape', () => {
    expect(conform({ ServiceName: 'x', Tags: 'a' }, 'ServiceRegistrationStub', 's')).toEqual([
      's.Tags: expected array for []string',
    ]);
    expect(conform({ ...fixtureReg(), Port: '80' }, 'ServiceRegistration', 'r')).toEqual(['r.Port: expected integer']);
  });
});
