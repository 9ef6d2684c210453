import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseEnvFile } from './env-file.js';
import { taskEnvLookup } from './data.js';
import { nomadTemplateSettings, TemplateRunner } from './runner.js';
import { Template, TemplateCache } from './template.js';
import { formatGoTime } from './golayout.js';
import { MemoryTemplateData } from './memory-data.js';
import type { Template as TemplateSpec } from '../structs/index.js';

describe('properties', () => {
  it('copies any text without delimiters through unchanged', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('{{')),
        (s) => {
          expect(Template.parse(s).execute(null)).toBe(s);
        },
      ),
    );
  });
  it('prints any string value as itself and round-trips it through toJSON', () => {
    const t = new TemplateRunner({ text: '{{ env "V" }}|{{ env "V" | toJSON }}' });
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('|')),
        (s) => {
          const [plain, json] = t.render(new MemoryTemplateData({ env: { V: s } })).output.split('|');
          expect(plain).toBe(s);
          expect(JSON.parse(json!)).toBe(s);
        },
      ),
    );
  });
  it('ranges over every element of a list, in order, and over map keys sorted', () => {
    const t = Template.parse('{{range $i, $v := .l}}{{$i}}:{{$v}},{{end}}|{{range $k, $v := .m}}{{$k}},{{end}}');
    fc.assert(
      fc.property(
        fc.array(fc.integer()),
        fc.dictionary(fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'Z', '1') }), fc.integer()),
        (l, m) => {
          const [left, right] = t.execute({ l, m }).split('|');
          expect(left).toBe(l.map((v, i) => `${i}:${v},`).join(''));
          expect(right).toBe(
            Object.keys(m)
              .sort()
              .map((k) => `${k},`)
              .join(''),
          );
        },
      ),
    );
  });
});

describe('parsing details', () => {
  it('keeps the first non-empty definition and rejects a second one', () => {
    expect(() => Template.parse('{{define "a"}}1{{end}}{{define "a"}}2{{end}}')).toThrow(
      /multiple definition of template "a"/,
    );
    expect(Template.parse('{{define "a"}} {{end}}{{define "a"}}2{{end}}{{template "a"}}').execute(null)).toBe('2');
  });
  it('rejects else-if inside with, and constants as later pipeline stages', () => {
    expect(() => Template.parse('{{with 1}}{{else if 2}}{{end}}')).toThrow(/unexpected <if>/);
    expect(() => Template.parse('{{ 1 | 2 }}')).toThrow(/non executable command in pipeline stage 2/);
  });
  it('rejects bad number syntax and unterminated strings with their position', () => {
    expect(() => Template.parse('\n{{ 12abc }}', { name: 'n' })).toThrow(/^template: n:2:3: bad number syntax/);
    expect(() => Template.parse('{{ "abc }}')).toThrow(/unterminated quoted string/);
    expect(() => Template.parse('{{/* open')).toThrow(/unclosed comment/);
  });
  it('caches parsed templates and evicts the least recently used', () => {
    const cache = new TemplateCache(2);
    const a = cache.parse('a');
    cache.parse('b');
    expect(cache.parse('a')).toBe(a);
    cache.parse('c');
    expect(cache.size).toBe(2);
    expect(cache.parse('a')).toBe(a);
    expect(cache.parse('a', { leftDelim: '[[', rightDelim: ']]' })).not.toBe(a);
  });
});

describe('Nomad integration helpers', () => {
  it('reads an env = true template as KEY=value pairs', () => {
    const text = '# comment\n\nexport A=1\nB="two words\\n"\nC=\'$lit\'\nD = spaced # trailing\nE=\n';
    expect(parseEnvFile(text)).toEqual({ A: '1', B: 'two words\n', C: '$lit', D: 'spaced', E: '' });
    expect(() => parseEnvFile('novalue')).toThrow(/line 1/);
  });
  it('resolves node fields and attributes through env, with the task env first', () => {
    const env = taskEnvLookup(
      { NOMAD_TASK_NAME: 't', 'attr.cpu.numcores': 'override' },
      {
        ID: 'id',
        Name: 'n1',
        Datacenter: 'dc9',
        NodeClass: 'c',
        Attributes: { 'cpu.numcores': '8', 'kernel.name': 'linux' },
        Meta: { rack: 'r1' },
      },
    );
    expect(
      [
        'NOMAD_TASK_NAME',
        'node.unique.id',
        'node.unique.name',
        'node.datacenter',
        'node.class',
        'attr.kernel.name',
        'attr.cpu.numcores',
        'meta.rack',
        'nope',
      ].map(env),
    ).toEqual(['t', 'id', 'n1', 'dc9', 'c', 'linux', 'override', 'r1', undefined]);
  });
  it('converts a job template block to render settings in milliseconds', () => {
    const spec = {
      SourcePath: '',
      DestPath: 'local/x',
      EmbeddedTmpl: '',
      ChangeMode: 'signal',
      ChangeSignal: 'SIGHUP',
      Splay: 5e9,
      Perms: '0644',
      LeftDelim: '',
      RightDelim: ']]',
      Envvars: true,
      ErrMissingKey: true,
      Wait: { Min: 2e9, Max: 10e9 },
    } as TemplateSpec;
    expect(nomadTemplateSettings(spec)).toEqual({
      leftDelim: '{{',
      rightDelim: ']]',
      errorOnMissingKey: true,
      splayMs: 5000,
      wait: { minMs: 2000, maxMs: 10000 },
      once: false,
      env: true,
      changeMode: 'signal',
    });
  });
  it('formats Go layouts including fractional seconds and 12-hour clocks', () => {
    const d = new Date(Date.UTC(2023, 11, 31, 23, 59, 58, 120));
    expect(formatGoTime(d, '2006-01-02T15:04:05.000Z07:00')).toBe('2023-12-31T23:59:58.120Z');
    expect(formatGoTime(d, 'Jan 2, 2006 at 3:04pm (MST) .999')).toBe('Dec 31, 2023 at 11:59pm (UTC) .12');
    expect(formatGoTime(d, 'Monday 002 -0700')).toBe('Sunday 365 +0000');
  });
});
