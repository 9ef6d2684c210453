import { describe, expect, it } from 'vitest';
import { Template } from './template.js';
import { TemplateError } from './errors.js';
import { goStruct } from './values.js';
import type { FuncMap } from './builtins.js';

const render = (text: string, data?: unknown, funcs: FuncMap = {}, opts: { missingKey?: 'error' } = {}) =>
  Template.parse(text, { name: 'x', extraFuncNames: Object.keys(funcs) }).execute(data, funcs, opts);

const failure = (fn: () => unknown): TemplateError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof TemplateError) return e;
    throw e;
  }
  throw new Error('expected a TemplateError');
};

describe('text and actions', () => {
  it('copies text outside actions unchanged', () => {
    expect(render('plain {text} }} here')).toBe('plain {text} }} here');
  });
  it('prints dot, fields and nested map keys', () => {
    expect(render('{{.}}', 'hi')).toBe('hi');
    expect(render('{{.A.B}}-{{ .C }}', { A: { B: 1 }, C: 'c' })).toBe('1-c');
  });
  it('prints <no value> for a missing map key, and for fields below it', () => {
    expect(render('{{.missing}}|{{.missing.deeper}}', {})).toBe('<no value>|<no value>');
  });
  it('fails on a missing key when error_on_missing_key is set', () => {
    const e = failure(() => render('{{.missing}}', {}, {}, { missingKey: 'error' }));
    expect(e.message).toBe('template: x:1:2: executing "x" at <.missing>: map has no entry for key "missing"');
  });
  it('fails on a field of a struct that does not have it', () => {
    const e = failure(() => render('{{.Nope}}', goStruct({ Port: 1 }, 'Svc')));
    expect(e.message).toContain("can't evaluate field Nope in type Svc");
  });
  it('fails on a field of nil', () => {
    expect(failure(() => render('{{.a.b}}', { a: null })).message).toContain('nil pointer evaluating interface {}.b');
  });
  it('prints slices, maps and nil the way Go fmt does', () => {
    expect(render('{{.}}', ['a', 'b'])).toBe('[a b]');
    expect(render('{{.}}', { b: 2, a: 1 })).toBe('map[a:1 b:2]');
    expect(render('{{.x}}', { x: null })).toBe('<nil>');
  });
  it('prints constants: numbers, strings, raw strings, chars and bools', () => {
    expect(render('{{1}} {{1.5}} {{0x10}} {{1e3}} {{"a\\tb"}} {{`raw\\n`}} {{\'a\'}} {{true}}')).toBe(
      '1 1.5 16 1000 a\tb raw\\n 97 true',
    );
  });
});

describe('whitespace trimming and comments', () => {
  it('trims whitespace on the marked sides only', () => {
    expect(render('a  \n {{- "b" -}} \n\t c')).toBe('abc');
    expect(render('a {{- "b" }} c')).toBe('ab c');
    expect(render('a {{ "b" -}} c')).toBe('a bc');
  });
  it('reads {{-3}} as the number -3, not as a trim marker', () => {
    expect(render('x {{-3}}')).toBe('x -3');
  });
  it('drops comments, with and without trim markers', () => {
    expect(render('a {{/* note */}} b')).toBe('a  b');
    expect(render('a {{- /* note */ -}} b')).toBe('ab');
  });
  it('uses custom delimiters', () => {
    const t = Template.parse('[[ .a ]] {{ .a }}', { leftDelim: '[[', rightDelim: ']]' });
    expect(t.execute({ a: 1 })).toBe('1 {{ .a }}');
  });
});

describe('if, with and range', () => {
  it('chains else if branches with one end', () => {
    const t = '{{if eq . 1}}one{{else if eq . 2}}two{{else if eq . 3}}three{{else}}many{{end}}';
    expect([1, 2, 3, 4].map((n) => render(t, n))).toEqual(['one', 'two', 'three', 'many']);
  });
  it("uses Go's truth: empty values are false", () => {
    const t = '{{if .}}T{{else}}F{{end}}';
    expect(['', 'x', 0, 2, [], [1], {}, { a: 1 }, null, false, true].map((v) => render(t, v)).join('')).toBe(
      'FTFTFTFTFFT',
    );
  });
  it('sets dot in with, and takes else with when empty', () => {
    expect(render('{{with .a}}<{{.}}>{{else}}none{{end}}', { a: 'v' })).toBe('<v>');
    expect(render('{{with .a}}<{{.}}>{{else with .b}}b={{.}}{{else}}none{{end}}', { a: '', b: 2 })).toBe('b=2');
    expect(render('{{with .a}}<{{.}}>{{else}}none{{end}}', {})).toBe('none');
  });
  it('ranges over slices with index and element variables', () => {
    expect(render('{{range $i, $v := .}}{{$i}}={{$v}};{{end}}', ['a', 'b'])).toBe('0=a;1=b;');
    expect(render('{{range $v := .}}{{$v}}{{end}}', ['a', 'b'])).toBe('ab');
    expect(render('{{range .}}[{{.}}]{{end}}', [1, 2])).toBe('[1][2]');
  });
  it('ranges over maps in sorted key order', () => {
    expect(render('{{range $k, $v := .}}{{$k}}:{{$v}} {{end}}', { b: 2, c: 3, a: 1 })).toBe('a:1 b:2 c:3 ');
  });
  it('ranges over an integer', () => {
    expect(render('{{range 3}}{{.}}{{end}}')).toBe('012');
  });
  it('runs the else branch of an empty range', () => {
    expect(render('{{range .}}x{{else}}empty{{end}}', [])).toBe('empty');
    expect(render('{{range .missing}}x{{else}}empty{{end}}', {})).toBe('empty');
  });
  it('supports break and continue', () => {
    expect(
      render(
        '{{range .}}{{if eq . 3}}{{continue}}{{end}}{{if eq . 5}}{{break}}{{end}}{{.}}{{end}}',
        [1, 2, 3, 4, 5, 6],
      ),
    ).toBe('124');
  });
  it('refuses to range over a string', () => {
    expect(failure(() => render('{{range .}}{{end}}', 'abc')).message).toContain("range can't iterate over abc");
  });
});

describe('variables', () => {
  it('declares, assigns and reads $ as the root', () => {
    expect(render('{{$x := 1}}{{$x = 2}}{{$x}} {{$.a}}', { a: 'root' })).toBe('2 root');
  });
  it('scopes variables declared inside if, with and range to that structure', () => {
    expect(() => Template.parse('{{if true}}{{$y := 1}}{{end}}{{$y}}')).toThrow(/undefined variable "\$y"/);
    expect(() => Template.parse('{{range .}}{{$y := 1}}{{end}}{{$y}}')).toThrow(/undefined variable/);
  });
  it('lets assignments inside range change the outer variable', () => {
    expect(render('{{$n := 0}}{{range .}}{{$n = .}}{{end}}{{$n}}', [4, 5, 6])).toBe('6');
  });
  it('reads fields through a variable', () => {
    expect(render('{{$s := .}}{{range .list}}{{$s.prefix}}{{.}}{{end}}', { prefix: '-', list: [1, 2] })).toBe('-1-2');
  });
});

describe('define, template and block', () => {
  it('invokes defined templates with a new dot', () => {
    expect(render('{{define "T"}}<{{.}}>{{end}}{{template "T" "a"}}{{template "T" .b}}', { b: 'bb' })).toBe('<a><bb>');
  });
  it('renders a block in place and defines it', () => {
    expect(render('{{block "B" .}}[{{.}}]{{end}}|{{template "B" 2}}', 1)).toBe('[1]|[2]');
  });
  it('executeTemplate returns a defined template as a string', () => {
    expect(
      render('{{define "c"}}hi {{.}}{{end}}{{ $v := executeTemplate "c" 42 }}{{ $v | toUpper }}', null, {
        toUpper: (s: string) => s.toUpperCase(),
      }),
    ).toBe('HI 42');
  });
  it('fails on an undefined template', () => {
    expect(failure(() => render('{{template "nope"}}')).message).toContain('template "nope" not defined');
  });
});

describe('pipelines and builtins', () => {
  it('pipes the previous value as the last argument', () => {
    expect(render('{{"a" | printf "%s-%s" "b"}}')).toBe('b-a');
    expect(render('{{(len .) | printf "%03d"}}', [1, 2])).toBe('002');
  });
  it('short-circuits and/or and returns the deciding operand', () => {
    const boom: FuncMap = {
      boom: () => {
        throw new Error('evaluated');
      },
    };
    expect(render('{{and 1 0 boom}}', null, boom)).toBe('0');
    expect(render('{{or 0 "x" boom}}', null, boom)).toBe('x');
    expect(render('{{and 1 "y"}} {{or 0 ""}}')).toBe('y ');
    expect(render('{{not 0}} {{not "a"}}')).toBe('true false');
  });
  it('compares like Go: eq with several operands, ordering, and type errors', () => {
    expect(render('{{eq 1 2 3 1}} {{ne "a" "b"}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}}')).toBe(
      'true true true true true false',
    );
    expect(failure(() => render('{{eq 1 "1"}}')).message).toContain(
      'error calling eq: incompatible types for comparison',
    );
    expect(failure(() => render('{{lt true false}}')).message).toContain('invalid type for comparison');
    expect(render('{{eq .missing "x"}}', {})).toBe('false');
  });
  it('len counts bytes of strings, items of slices and maps', () => {
    expect(render('{{len "héllo"}} {{len .a}} {{len .m}}', { a: [1, 2, 3], m: { x: 1 } })).toBe('6 3 1');
    expect(failure(() => render('{{len 3}}')).message).toContain('len of type int');
  });
  it('index reaches into slices and maps, several levels deep', () => {
    expect(render('{{index . "a" 1 "b"}}', { a: [0, { b: 'deep' }] })).toBe('deep');
    const e = failure(() => render('{{index .a 5}}', { a: [1] }));
    expect(e.message).toBe(
      'template: x:1:2: executing "x" at <index .a 5>: error calling index: index out of range: 5',
    );
  });
  it('slice cuts strings and slices', () => {
    expect(render('{{slice "abcdef" 1 3}} {{slice . 1}}', [1, 2, 3])).toBe('bc [2 3]');
  });
  it('print and println space operands as Go does', () => {
    expect(render('{{print "a" 1 2 "b"}}|{{println "a" 1}}')).toBe('a1 2b|a 1\n');
  });
  it('escapes for html, js and urlquery', () => {
    expect(render(`{{html "<a href='x'>&\\""}}`)).toBe('&lt;a href=&#39;x&#39;&gt;&amp;&#34;');
    expect(render(`{{js "it's <b>\\n"}}`)).toBe("it\\'s \\u003Cb\\u003E\\u000A");
    expect(render('{{urlquery "a b&c=d/é"}}')).toBe('a+b%26c%3Dd%2F%C3%A9');
  });
  it('call invokes a function value from the data', () => {
    expect(render('{{call .f 2 3}}', { f: (a: number, b: number) => a * b })).toBe('6');
  });
  it('calls methods on data, with arguments', () => {
    class Box {
      constructor(readonly v: number) {}
      Plus(n: number) {
        return this.v + n;
      }
    }
    expect(render('{{.Plus 2}} {{.v}}', new Box(40))).toBe('42 40');
  });
  it('checks the number of arguments', () => {
    expect(failure(() => render('{{len 1 2}}')).message).toContain('wrong number of args for len: want 1 got 2');
  });
});

describe('printf', () => {
  const cases: Array<[string, unknown[], string]> = [
    ['%s|%v|%d', ['a', 'b', 42], 'a|b|42'],
    ['%5d|%-5d|%05d|%+d', [42, 42, -42, 42], '   42|42   |-0042|+42'],
    ['%.2f|%8.3f|%f|%.0f', [3.14159, 2.5, 1, 2.5], '3.14|   2.500|1.000000|2'],
    ['%x|%X|%#x|%o|%b', [255, 255, 255, 8, 5], 'ff|FF|0xff|10|101'],
    ['%x', ['hi'], '6869'],
    ['%q|%q', ['a"b\n', 65], '"a\\"b\\n"|\'A\''],
    ['%t|%v', [true, false], 'true|false'],
    ['%v|%v', [1.5, 1e21 + 0.5], '1.5|1e+21'],
    ['%g|%e', [0.000012, 1234.5678], '1.2e-05|1.234568e+03'],
    ['%6.2f%%', [99.5], ' 99.50%'],
    ['%-6s|%6s|%.2s', ['ab', 'ab', 'abc'], 'ab    |    ab|ab'],
    ['%v|%+v', [[1, 'a'], goStruct({ Name: 'n', Port: 1 }, 'S')], '[1 a]|{Name:n Port:1}'],
    ['%d %s', ['str', 5], '%!d(string=str) %!s(int=5)'],
    ['%d %d', [1], '1 %!d(MISSING)'],
    ['%d', [1, 2], '1%!(EXTRA int=2)'],
    ['%T %T %T', [1, 'a', 1.5], 'int string float64'],
    ['%*d|%c|%U', [4, 7, 0x263a, 0x263a], '   7|☺|U+263A'],
  ];
  for (const [format, args, want] of cases) {
    it(`formats ${JSON.stringify(format)} like Go`, () => {
      const t = Template.parse(
        `{{printf ${JSON.stringify(format)} ${args.map((_, i) => `(index .a ${i})`).join(' ')}}}`,
      );
      expect(t.execute({ a: args })).toBe(want);
    });
  }
});

describe('errors name the template, line and column', () => {
  it('reports parse errors with position', () => {
    const e = failure(() => Template.parse('line one\n  {{ if }}', { name: 'web.conf' }));
    expect(e.phase).toBe('parse');
    expect(e.message).toBe('template: web.conf:2:8: missing value for if');
    expect([e.line, e.column]).toEqual([2, 8]);
  });
  it('reports unknown functions and unclosed actions at parse time', () => {
    expect(() => Template.parse('{{ nope 1 }}')).toThrow(/function "nope" not defined/);
    expect(() => Template.parse('a {{ .x ')).toThrow(/unclosed action/);
    expect(() => Template.parse('{{ if 1 }}x')).toThrow(/unexpected EOF/);
    expect(() => Template.parse('{{ end }}')).toThrow(/unexpected \{\{end\}\}/);
    expect(() => Template.parse('{{ break }}')).toThrow(/\{\{break\}\} outside \{\{range\}\}/);
  });
  it('reports execution errors with the failing expression', () => {
    const e = failure(() => render('a\nb\n  port {{ .Port | printf "%d" | len | index 3 }}', { Port: 1 }));
    expect(e.phase).toBe('exec');
    expect(e.message).toMatch(/^template: x:3:38: executing "x" at <index 3>: error calling index: /);
    expect(e.code).toBe('BadRequest');
  });
  it('reports errors inside a defined template under its name', () => {
    const e = failure(() => render('{{define "inner"}}\n{{ .a.b }}{{end}}{{template "inner" .}}', { a: null }));
    expect(e.message).toBe('template: x:2:3: executing "inner" at <.a.b>: nil pointer evaluating interface {}.b');
  });
});
