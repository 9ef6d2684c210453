import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryTemplateData, type MemoryTemplateDataInit } from './memory-data.js';
import { TemplateRunner, type TemplateRunnerConfig } from './runner.js';
import { parseServiceQuery } from './funcs-data.js';
import type { ServiceInstance } from './data.js';

const svc = (name: string, n: number, extra: Partial<ServiceInstance> = {}): ServiceInstance => ({
  ID: `${name}-${n}`,
  Name: name,
  Address: `10.0.0.${n}`,
  Port: 8000 + n,
  Tags: [],
  NodeID: `node-${n}`,
  Node: `host-${n}`,
  Datacenter: 'dc1',
  AllocID: `alloc-${n}`,
  JobID: 'job',
  Namespace: 'default',
  ...extra,
});

function render(text: string, init: MemoryTemplateDataInit = {}, config: Partial<TemplateRunnerConfig> = {}) {
  const res = new TemplateRunner({ text, name: 't', ...config }).render(new MemoryTemplateData(init));
  if (res.error) throw res.error;
  return res.output;
}

describe('service queries', () => {
  it('parses tag, name, datacenter and health filters', () => {
    expect(parseServiceQuery('consul', 'default', 'prod.web@dc2')).toMatchObject({
      name: 'web',
      tag: 'prod',
      dc: 'dc2',
      healthy: 'passing',
      statuses: [],
    });
    expect(parseServiceQuery('consul', 'default', 'v1.2.web')).toMatchObject({ name: 'web', tag: 'v1.2' });
    expect(parseServiceQuery('consul', 'default', 'web|passing,warning')).toMatchObject({
      statuses: ['passing', 'warning'],
    });
    expect(parseServiceQuery('nomad', 'default', 'web', ['any'])).toMatchObject({ healthy: 'any', statuses: [] });
    expect(() => parseServiceQuery('consul', 'default', 'web', ['bogus'])).toThrow(/invalid health status/);
    expect(() => parseServiceQuery('consul', 'default', 'bad name!')).toThrow(/invalid service query/);
  });
});

describe('service and nomadService', () => {
  const services = [
    svc('web', 2, { Tags: ['b'] }),
    svc('web', 1, { Tags: ['a', 'prod'] }),
    svc('web', 3, { Status: 'critical', Tags: ['prod'] }),
    svc('db', 9),
  ];

  it('lists healthy instances in node order with consul-template field names', () => {
    const out = render(
      '{{range service "web"}}{{.Name}} {{.ID}} {{.Address}}:{{.Port}} {{.Node}} {{.NodeAddress}} {{.Status}} {{.Tags}};{{end}}',
      { services },
    );
    expect(out).toBe(
      'web web-1 10.0.0.1:8001 host-1 10.0.0.1 passing [a prod];web web-2 10.0.0.2:8002 host-2 10.0.0.2 passing [b];',
    );
  });
  it('filters by tag and includes unhealthy instances with "any"', () => {
    expect(render('{{range service "prod.web"}}{{.ID}} {{end}}', { services })).toBe('web-1 ');
    expect(render('{{range service "prod.web" "any"}}{{.ID}} {{end}}', { services })).toBe('web-1 web-3 ');
    expect(render('{{range service "web|critical"}}{{.ID}} {{end}}', { services })).toBe('web-3 ');
  });
  it('exposes Nomad service fields on nomadService entries', () => {
    const out = render(
      '{{range nomadService "web"}}{{.Name}} {{.ID}} {{.Address}} {{.Port}} {{.AllocID}} {{.JobID}} {{.NodeID}} {{.Node}} {{.Datacenter}} {{.Namespace}}|{{end}}',
      {
        services: services.slice(1, 2),
      },
    );
    expect(out).toBe('web web-1 10.0.0.1 8001 alloc-1 job node-1 node-1 dc1 default|');
  });
  it('fails on a field a service entry does not have', () => {
    expect(() => render('{{range nomadService "web"}}{{.Bogus}}{{end}}', { services })).toThrow(
      /can't evaluate field Bogus in type \*dependency.NomadService/,
    );
  });
  it('picks a stable subset with the count/key form of nomadService', () => {
    const many = Array.from({ length: 10 }, (_, i) => svc('api', i + 1));
    const a = render('{{range nomadService 3 "alloc-a" "api"}}{{.ID}},{{end}}', { services: many });
    expect(a.split(',').filter(Boolean)).toHaveLength(3);
    expect(render('{{range nomadService 3 "alloc-a" "api"}}{{.ID}},{{end}}', { services: [...many].reverse() })).toBe(
      a,
    );
  });
  it('lists services with their tags', () => {
    expect(render('{{range services}}{{.Name}}:{{join "," .Tags}} {{end}}', { services })).toBe('db: web:a,b,prod ');
    expect(render('{{range nomadServices}}{{.Name}} {{end}}', { services })).toBe('db web ');
  });
  it('groups services by tag', () => {
    expect(render('{{range $tag, $s := service "web" | byTag}}{{$tag}}={{len $s}} {{end}}', { services })).toBe(
      'a=1 b=1 prod=1 ',
    );
  });
  it('reads service meta with index, empty when absent', () => {
    const s = [svc('web', 1, { Meta: { version: '2' } })];
    expect(
      render('{{range service "web"}}v{{index .ServiceMeta "version"}}[{{index .ServiceMeta "nope"}}]{{end}}', {
        services: s,
      }),
    ).toBe('v2[]');
  });
});

describe('KV functions', () => {
  const kv = { 'app/a': '1', 'app/b': '2', 'app/sub/c': '3', 'other/x': 'y' };
  it('reads keys with defaults and existence checks', () => {
    expect(
      render('{{key "app/a"}} {{keyOrDefault "app/nope" "d"}} {{keyExists "app/b"}} {{keyExists "nope"}}', { kv }),
    ).toBe('1 d true false');
  });
  it('lists direct children with ls and everything with tree', () => {
    expect(render('{{range ls "app"}}{{.Key}}={{.Value}} {{end}}', { kv })).toBe('a=1 b=2 ');
    expect(render('{{range tree "app/"}}{{.Key}}={{.Value}} {{end}}', { kv })).toBe('a=1 b=2 sub/c=3 ');
  });
  it('explodes a tree and groups by top-level key', () => {
    expect(render('{{with tree "app" | explode}}{{.sub.c}} {{.a}}{{end}}', { kv })).toBe('3 1');
    expect(
      render('{{range $k, $pairs := tree "app" | byKey}}{{$k}}:{{range $pairs}}{{.Key}}={{.Value}}{{end}}{{end}}', {
        kv,
      }),
    ).toBe('sub:c=3');
  });
  it('blocks the render while a key read with `key` does not exist', () => {
    const res = new TemplateRunner({ text: 'v={{key "missing"}}' }).render(new MemoryTemplateData({ kv }));
    expect(res.complete).toBe(false);
    expect(res.blocked).toEqual([{ kind: 'kv', path: 'missing', dc: '' }]);
  });
});

describe('datacenters, nodes and node', () => {
  const nodes = [
    { ID: 'n2', Node: 'web-2', Address: '10.0.0.2', Datacenter: 'dc2', Meta: { rack: 'b' } },
    { ID: 'n1', Node: 'web-1', Address: '10.0.0.1', Datacenter: 'dc1' },
    { ID: 'n3', Node: 'data-1', Address: '10.0.0.3', Datacenter: 'dc1' },
  ];
  it('lists every datacenter with a node once, sorted', () => {
    expect(render('{{ datacenters }}', { nodes })).toBe('[dc1 dc2]');
    expect(render('{{ range datacenters }}{{ . }};{{ end }}', { nodes })).toBe('dc1;dc2;');
  });
  it('lists the nodes sorted by name, or those of one datacenter with "@dc"', () => {
    expect(render('{{ range nodes }}{{ .Node }}={{ .Address }}@{{ .Datacenter }} {{ end }}', { nodes })).toBe(
      'data-1=10.0.0.3@dc1 web-1=10.0.0.1@dc1 web-2=10.0.0.2@dc2 ',
    );
    expect(
      render('{{ range nodes "@dc2" }}{{ .Node }} {{ .Meta.rack }} {{ .TaggedAddresses.lan }}{{ end }}', { nodes }),
    ).toBe('web-2 b 10.0.0.2');
  });
  it("gives the task's own node without an argument, a named one with it, and nothing for an unknown name", () => {
    const env = { 'node.unique.name': 'web-1' };
    expect(
      render('{{ with node }}{{ .Node.Node }} {{ .Node.Address }} {{ len .Services }}{{ end }}', { nodes, env }),
    ).toBe('web-1 10.0.0.1 0');
    expect(render('{{ with node "web-2@dc2" }}{{ .Node.ID }}{{ end }}', { nodes })).toBe('n2');
    expect(render('{{ with node "nope" }}x{{ else }}none{{ end }}', { nodes })).toBe('none');
    expect(() => render('{{ nodes "bad query" }}', { nodes })).toThrow(/invalid nodes query/);
  });
});

describe('Nomad variables', () => {
  const variables = { 'nomad/jobs/x': { password: 's3cret', user: 'admin' } };
  it('reads items by field, by index, through .Items and by ranging', () => {
    expect(render('{{ with nomadVar "nomad/jobs/x" }}{{ .password }}{{ end }}', { variables })).toBe('s3cret');
    expect(render('{{ (index (nomadVar "nomad/jobs/x") "user").Value }}', { variables })).toBe('admin');
    expect(render('{{ with nomadVar "nomad/jobs/x" }}{{ .Items.user }} {{ .Keys }}{{ end }}', { variables })).toBe(
      'admin [password user]',
    );
    expect(render('{{ range $k, $v := nomadVar "nomad/jobs/x" }}{{ $k }}={{ $v }};{{ end }}', { variables })).toBe(
      'password=s3cret;user=admin;',
    );
  });
  it('lists and checks variables', () => {
    expect(
      render(
        '{{ range nomadVarList "nomad/jobs" }}{{ .Path }}{{ end }} {{ nomadVarExists "nomad/jobs/x" }} {{ nomadVarExists "nope" }}',
        { variables },
      ),
    ).toBe('nomad/jobs/x true false');
  });
  it('records the variable as a dependency and blocks while it is absent', () => {
    const res = new TemplateRunner({ text: '{{ with nomadVar "nomad/jobs/y" }}{{ .a }}{{ end }}' }).render(
      new MemoryTemplateData({ variables }),
    );
    expect(res.deps).toEqual([{ kind: 'var', path: 'nomad/jobs/y', namespace: 'default' }]);
    expect(res.complete).toBe(false);
  });
});

describe('env and file', () => {
  const allocDir = fs.mkdtempSync(path.join(os.tmpdir(), 'drover-tmpl-file-'));
  fs.mkdirSync(path.join(allocDir, 'task', 'local'), { recursive: true });
  fs.writeFileSync(path.join(allocDir, 'task', 'local', 'conf.txt'), 'from file');
  fs.writeFileSync(path.join(os.tmpdir(), 'drover-outside.txt'), 'secret');
  afterAll(() => fs.rmSync(allocDir, { recursive: true, force: true }));
  const sandbox = { taskDir: path.join(allocDir, 'task'), allocDir };

  it('reads env with an empty string for unknown names', () => {
    expect(render('[{{env "A"}}][{{env "B"}}][{{envOrDefault "B" "dflt"}}]', { env: { A: 'a' } })).toBe('[a][][dflt]');
  });
  it('reads files inside the alloc dir, relative to the task dir', () => {
    expect(render('{{file "local/conf.txt"}}', {}, { sandbox })).toBe('from file');
  });
  it('refuses paths that escape the alloc dir', () => {
    expect(() => render('{{file "../../drover-outside.txt"}}', {}, { sandbox })).toThrow(
      /outside the allocation directory/,
    );
    expect(() => render(`{{file "${path.join(os.tmpdir(), 'drover-outside.txt')}"}}`, {}, { sandbox })).toThrow(
      /outside the allocation directory/,
    );
  });
  it('refuses a symlink that points out of the alloc dir', () => {
    fs.symlinkSync(path.join(os.tmpdir(), 'drover-outside.txt'), path.join(allocDir, 'task', 'link.txt'));
    expect(() => render('{{file "link.txt"}}', {}, { sandbox })).toThrow(/outside the allocation directory/);
  });
});

describe('helper functions', () => {
  const cases: Array<[string, string, string]> = [
    ['toJSON', '{{ parseJSON `{"b":[1,2],"a":"<x>"}` | toJSON }}', '{"a":"\\u003cx\\u003e","b":[1,2]}'],
    ['toJSONPretty', '{{ parseJSON `{"a":{"b":1}}` | toJSONPretty }}', '{\n  "a": {\n    "b": 1\n  }\n}'],
    ['parseJSON fields', '{{ with parseJSON `{"name":"n","n":2}` }}{{ .name }} {{ .n }}{{ end }}', 'n 2'],
    [
      'parse numbers and bools',
      '{{ "42" | parseInt | add 1 }} {{ "1.5" | parseFloat }} {{ "true" | parseBool }}',
      '43 1.5 true',
    ],
    ['split and join', '{{ "a,b,,c" | split "," | join "|" }}', 'a|b||c'],
    ['replaceAll', '{{ "foo.bar.baz" | replaceAll "." "_" }}', 'foo_bar_baz'],
    [
      'regexReplaceAll',
      '{{ "foo.bar" | regexReplaceAll "foo([.a-z]+)" "$1" }} {{ "a1b22" | regexReplaceAll "[0-9]+" "#" }}',
      '.bar a#b#',
    ],
    ['regexMatch', '{{ "foo.bar" | regexMatch "foo([.a-z]+)" }} {{ regexMatch "^x" "abc" }}', 'true false'],
    ['case', '{{ toLower "AbC" }} {{ toUpper "abc" }} {{ toTitle "hello wide world" }}', 'abc ABC Hello Wide World'],
    [
      'trims',
      '[{{ trimSpace "  a b \\n" }}] {{ trim "!!hi!!" "!" }} {{ "hello world" | trimPrefix "hello " }} {{ "file.txt" | trimSuffix ".txt" }}',
      '[a b] hi world file',
    ],
    [
      'contains family',
      '{{ "abc" | contains "b" }} {{ in (split "," "a,b") "b" }} {{ containsAny (split "," "x,b") (split "," "a,b") }} {{ containsAll (split "," "x,b") (split "," "a,b") }} {{ containsNone (split "," "x") (split "," "a,b") }} {{ containsNotAll (split "," "a,x") (split "," "a,b") }}',
      'true true true false true true',
    ],
    [
      'base64',
      '{{ base64Encode "hello" }} {{ base64Decode "aGVsbG8=" }} {{ base64URLEncode "??>" }}',
      'aGVsbG8= hello Pz8-',
    ],
    [
      'hashes',
      '{{ sha256Hex "bladibla" | printf "%.8s" }} {{ md5sum "a" }}',
      '54cf4c66 0cc175b9c0f1b6a831c399e269772661',
    ],
    ['loop', '{{ range loop 3 }}{{ . }}{{ end }} {{ range $i := loop 5 8 }}{{ $i }}{{ end }}', '012 567'],
    ['indent', '{{ "a\\nb" | indent 2 }}', '  a\n  b'],
    [
      'math',
      '{{ add 1 2 }} {{ subtract 2 5 }} {{ multiply 3 4 }} {{ divide 2 10 }} {{ 7 | divide 2 }} {{ modulo 2 5 }} {{ add 1.5 1 }} {{ minimum 2 5 }} {{ maximum 2 5 }}',
      '3 3 12 5 3 1 2.5 2 5',
    ],
    [
      'scratch',
      '{{ scratch.Set "a" 1 }}{{ scratch.MapSet "m" "y" 2 }}{{ scratch.MapSet "m" "x" 1 }}{{ scratch.Get "a" }} {{ scratch.Key "b" }} {{ scratch.MapValues "m" }}',
      '1 false [1 2]',
    ],
  ];
  for (const [name, text, want] of cases) {
    it(`${name} behaves as consul-template's`, () => {
      expect(render(text)).toBe(want);
    });
  }
  it('formats timestamps from the injected clock, in UTC, with Go layouts', () => {
    const now = () => new Date(Date.UTC(2024, 1, 3, 4, 5, 6, 789));
    expect(
      render(
        '{{ timestamp }}|{{ timestamp "2006-01-02" }}|{{ timestamp "unix" }}|{{ timestamp "Mon Jan _2 15:04:05.000 MST 2006" }}|{{ timestamp "3:04PM" }}',
        {},
        { now },
      ),
    ).toBe('2024-02-03T04:05:06Z|2024-02-03|1706933106|Sat Feb  3 04:05:06.789 UTC 2024|4:05AM');
  });
  it('reports errors from helpers with their name', () => {
    expect(() => render('{{ "x" | parseInt }}')).toThrow(
      /error calling parseInt: strconv.ParseInt: parsing "x": invalid syntax/,
    );
    expect(() => render('{{ divide 0 1 }}')).toThrow(/division by 0/);
    expect(() => render('{{ plugin "p" }}')).toThrow(/plugins are not supported/);
    expect(() => render('{{ base64Decode "!!" }}')).toThrow(/illegal base64 data/);
  });
});
