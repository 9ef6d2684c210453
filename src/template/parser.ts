/**
 * Parser for Go's text/template, producing the trees in ast.ts. It follows Go's grammar and checks what Go checks
 * at parse time: functions must exist, variables must be declared in scope, {{break}} only inside {{range}}.
 * One parse yields a set of named trees: the main one plus every {{define}} and {{block}}.
 */
import type { ArgNode, CommandNode, ListNode, Node, PipeNode, TemplateNode, VariableNode } from './ast.js';
import { lex, LexError, type Token } from './lexer.js';
import { parseGoNumber, unquote } from './unquote.js';

export class ParseError extends Error {
  constructor(
    message: string,
    readonly pos: number,
    /** The template (main or {{define}}) being parsed when it failed. */
    readonly treeName: string,
  ) {
    super(message);
  }
}

export interface ParseOptions {
  leftDelim?: string;
  rightDelim?: string;
  /** Names a template may call; anything else is "function not defined". */
  funcs: ReadonlySet<string> | { has(name: string): boolean };
}

export type TreeSet = Map<string, ListNode>;

/** Parses `text` as template `name`; returns the trees it defines, including `name` itself. */
export function parseTemplate(name: string, text: string, opts: ParseOptions): TreeSet {
  let tokens: Token[];
  try {
    tokens = lex(text, opts.leftDelim, opts.rightDelim);
  } catch (e) {
    if (e instanceof LexError) throw new ParseError(e.message, e.pos, name);
    throw e;
  }
  const trees: TreeSet = new Map();
  new Parser(tokens, opts.funcs, trees, name).parseRoot();
  return trees;
}

/** Go treats a tree of only whitespace text as empty: such a definition may be replaced. */
function isEmptyList(l: ListNode): boolean {
  return l.nodes.every((n) => n.type === 'text' && n.text.trim() === '');
}

type ItemEnd = { kind: 'end'; pos: number } | { kind: 'else'; pos: number; chain: 'if' | 'with' | null };

class Parser {
  private tokenIndex = 0;
  private vars: string[] = ['$'];
  private rangeDepth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly funcs: { has(name: string): boolean },
    private readonly trees: TreeSet,
    private treeName: string,
  ) {}

  private fail(msg: string, pos: number): never {
    throw new ParseError(msg, pos, this.treeName);
  }
  // The lexer always ends the token list with an EOF token: reads past the end keep returning it.
  private next(): Token {
    return this.tokens[this.tokenIndex++] ?? this.tokens[this.tokens.length - 1]!;
  }
  private backup(n = 1): void {
    this.tokenIndex -= n;
  }
  private peek(): Token {
    return this.tokens[this.tokenIndex] ?? this.tokens[this.tokens.length - 1]!;
  }
  private nextNonSpace(): Token {
    let t = this.next();
    while (t.type === 'space') t = this.next();
    return t;
  }
  private peekNonSpace(): Token {
    const t = this.nextNonSpace();
    this.backup();
    return t;
  }
  private describe(t: Token): string {
    if (t.type === 'eof') return 'EOF';
    if (t.type === 'rightDelim' || t.type === 'leftDelim') return `"${t.val}"`;
    if (t.type === 'keyword') return `<${t.val}>`;
    if (t.type === 'space') return 'space';
    return JSON.stringify(t.val);
  }
  private unexpected(t: Token, context: string): never {
    this.fail(`unexpected ${this.describe(t)} in ${context}`, t.pos);
  }
  private expect(type: Token['type'], context: string): Token {
    const t = this.nextNonSpace();
    if (t.type !== type) this.unexpected(t, context);
    return t;
  }

  private addTree(name: string, list: ListNode, pos: number): void {
    const existing = this.trees.get(name);
    if (existing && !isEmptyList(existing) && !isEmptyList(list))
      this.fail(`template: multiple definition of template "${name}"`, pos);
    if (!existing || isEmptyList(existing)) this.trees.set(name, list);
  }

  parseRoot(): void {
    const root: ListNode = { type: 'list', pos: 0, nodes: [] };
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'leftDelim') {
        const save = this.tokenIndex;
        this.next();
        const kw = this.nextNonSpace();
        if (kw.type === 'keyword' && kw.val === 'define') {
          this.parseDefinition(kw.pos);
          continue;
        }
        this.tokenIndex = save;
      }
      const n = this.textOrAction();
      if (isItemEnd(n)) this.fail(`unexpected {{${n.kind}}}`, n.pos);
      root.nodes.push(n);
    }
    this.addTree(this.treeName, root, 0);
  }

  private parseDefinition(pos: number): void {
    const nameTok = this.nextNonSpace();
    if (nameTok.type !== 'string' && nameTok.type !== 'rawString') this.unexpected(nameTok, 'define clause');
    const name = this.unquoteTok(nameTok);
    this.expect('rightDelim', 'define clause');
    const outer = this.treeName;
    const outerVars = this.vars;
    this.treeName = name;
    this.vars = ['$'];
    const [list, end] = this.itemList();
    if (end.kind !== 'end') this.fail('unexpected {{else}} in define clause', end.pos);
    this.addTree(name, list, pos);
    this.treeName = outer;
    this.vars = outerVars;
  }

  private textOrAction(): Node | ItemEnd {
    const t = this.nextNonSpace();
    if (t.type === 'text') return { type: 'text', pos: t.pos, text: t.val };
    if (t.type === 'leftDelim') return this.action();
    this.unexpected(t, 'input');
  }

  /** Parses nodes up to the {{end}} or {{else}} that closes the enclosing structure. */
  private itemList(): [ListNode, ItemEnd] {
    const list: ListNode = { type: 'list', pos: this.peek().pos, nodes: [] };
    while (this.peekNonSpace().type !== 'eof') {
      const n = this.textOrAction();
      if (isItemEnd(n)) return [list, n];
      list.nodes.push(n);
    }
    this.fail('unexpected EOF', this.peek().pos);
  }

  private action(): Node | ItemEnd {
    const t = this.nextNonSpace();
    if (t.type === 'keyword') {
      switch (t.val) {
        case 'block':
          return this.blockControl(t.pos);
        case 'break':
        case 'continue':
          return this.loopControl(t.val, t.pos);
        case 'else':
          return this.elseControl(t.pos);
        case 'end':
          this.expect('rightDelim', 'end');
          return { kind: 'end', pos: t.pos };
        case 'if':
        case 'range':
        case 'with':
          return this.branchControl(t.val, t.pos);
        case 'template':
          return this.templateControl(t.pos);
        case 'define':
          this.fail('unexpected <define> in command', t.pos);
      }
    }
    this.backup();
    const pipe = this.pipeline('command', 'rightDelim');
    return { type: 'action', pos: t.pos, pipe };
  }

  private loopControl(kw: 'break' | 'continue', pos: number): Node {
    const t = this.nextNonSpace();
    if (t.type !== 'rightDelim') this.unexpected(t, `{{${kw}}}`);
    if (this.rangeDepth === 0) this.fail(`{{${kw}}} outside {{range}}`, pos);
    return { type: kw, pos };
  }

  private elseControl(pos: number): ItemEnd {
    const p = this.peekNonSpace();
    if (p.type === 'keyword' && (p.val === 'if' || p.val === 'with')) return { kind: 'else', pos, chain: p.val };
    this.expect('rightDelim', 'else');
    return { kind: 'else', pos, chain: null };
  }

  private branchControl(context: 'if' | 'range' | 'with', pos: number): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(context, 'rightDelim');
    if (context === 'range') this.rangeDepth++;
    const [list, end] = this.itemList();
    if (context === 'range') this.rangeDepth--;
    let elseList: ListNode | null = null;
    if (end.kind === 'else') {
      if (end.chain && end.chain === context) {
        // `{{else if}}` / `{{else with}}`: a nested branch that shares the single closing {{end}}.
        const kw = this.nextNonSpace();
        elseList = { type: 'list', pos: kw.pos, nodes: [this.branchControl(end.chain, kw.pos)] };
      } else {
        if (end.chain) this.fail(`unexpected <${end.chain}> after {{else}} in {{${context}}}`, end.pos);
        const [l, e2] = this.itemList();
        if (e2.kind !== 'end') this.fail(`expected end; found {{else}}`, e2.pos);
        elseList = l;
      }
    }
    this.vars.length = mark;
    return { type: context, pos, pipe, list, elseList };
  }

  private templateControl(pos: number): TemplateNode {
    const nameTok = this.nextNonSpace();
    if (nameTok.type !== 'string' && nameTok.type !== 'rawString') this.unexpected(nameTok, 'template clause');
    const name = this.unquoteTok(nameTok);
    let pipe: PipeNode | null = null;
    if (this.peekNonSpace().type !== 'rightDelim') pipe = this.pipeline('template clause', 'rightDelim');
    else this.nextNonSpace();
    return { type: 'template', pos, name, pipe };
  }

  private blockControl(pos: number): TemplateNode {
    const nameTok = this.nextNonSpace();
    if (nameTok.type !== 'string' && nameTok.type !== 'rawString') this.unexpected(nameTok, 'block clause');
    const name = this.unquoteTok(nameTok);
    const pipe = this.pipeline('block clause', 'rightDelim');
    const outer = this.treeName;
    const outerVars = this.vars;
    const outerRange = this.rangeDepth;
    this.treeName = name;
    this.vars = ['$'];
    this.rangeDepth = 0;
    const [list, end] = this.itemList();
    if (end.kind !== 'end') this.fail('unexpected {{else}} in block clause', end.pos);
    this.addTree(name, list, pos);
    this.treeName = outer;
    this.vars = outerVars;
    this.rangeDepth = outerRange;
    return { type: 'template', pos, name, pipe };
  }

  private pipeline(context: string, end: 'rightDelim' | 'rightParen'): PipeNode {
    const start = this.peekNonSpace();
    const pipe: PipeNode = { type: 'pipe', pos: start.pos, isAssign: false, decl: [], cmds: [] };
    this.declarations(pipe, context);
    for (;;) {
      const t = this.nextNonSpace();
      if (t.type === end) {
        if (pipe.cmds.length === 0) this.fail(`missing value for ${context}`, t.pos);
        for (let k = 1; k < pipe.cmds.length; k++) {
          const first = pipe.cmds[k]!.args[0]!;
          if (['bool', 'dot', 'nil', 'number', 'string'].includes(first.type)) {
            this.fail(`non executable command in pipeline stage ${k + 1}`, first.pos);
          }
        }
        return pipe;
      }
      if (
        [
          'bool',
          'charConstant',
          'dot',
          'field',
          'identifier',
          'number',
          'nil',
          'rawString',
          'string',
          'variable',
          'leftParen',
        ].includes(t.type)
      ) {
        this.backup();
        pipe.cmds.push(this.command());
      } else this.unexpected(t, context);
    }
  }

  /** `$x :=`, `$x =`, and range's `$i, $v :=`. */
  private declarations(pipe: PipeNode, context: string): void {
    const save = this.tokenIndex;
    const v = this.nextNonSpace();
    if (v.type !== 'variable') {
      this.tokenIndex = save;
      return;
    }
    const afterVar = this.nextNonSpace();
    if (afterVar.type === 'declare' || afterVar.type === 'assign') {
      pipe.isAssign = afterVar.type === 'assign';
      pipe.decl.push(this.declareVar(v, pipe.isAssign));
      return;
    }
    if (afterVar.type === 'char' && afterVar.val === ',' && context === 'range') {
      const v2 = this.nextNonSpace();
      const op = this.nextNonSpace();
      if (v2.type !== 'variable' || (op.type !== 'declare' && op.type !== 'assign'))
        this.fail('range can only initialize variables', v.pos);
      pipe.isAssign = op.type === 'assign';
      pipe.decl.push(this.declareVar(v, pipe.isAssign), this.declareVar(v2, pipe.isAssign));
      return;
    }
    if (afterVar.type === 'char') this.fail(`too many declarations in ${context}`, afterVar.pos);
    this.tokenIndex = save;
  }

  private declareVar(t: Token, isAssign: boolean): VariableNode {
    if (isAssign && !this.vars.includes(t.val)) this.fail(`undefined variable "${t.val}"`, t.pos);
    if (!isAssign) this.vars.push(t.val);
    return { type: 'variable', pos: t.pos, idents: [t.val] };
  }

  private command(): CommandNode {
    const cmd: CommandNode = { type: 'command', pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      while (this.peek().type === 'space') this.next();
      const op = this.operand();
      if (op) cmd.args.push(op);
      const t = this.next();
      if (t.type === 'space') continue;
      if (t.type === 'rightDelim' || t.type === 'rightParen') this.backup();
      else if (t.type !== 'pipe') this.unexpected(t, 'operand');
      break;
    }
    if (cmd.args.length === 0) this.fail('empty command', cmd.pos);
    return cmd;
  }

  private operand(): ArgNode | null {
    const node = this.term();
    if (!node || this.peek().type !== 'field') return node;
    const fields: string[] = [];
    while (this.peek().type === 'field') fields.push(this.next().val.slice(1));
    switch (node.type) {
      case 'field':
        return { type: 'field', pos: node.pos, idents: [...node.idents, ...fields] };
      case 'variable':
        return { type: 'variable', pos: node.pos, idents: [...node.idents, ...fields] };
      case 'bool':
      case 'string':
      case 'number':
      case 'nil':
      case 'dot':
        this.fail(`unexpected . after term ${JSON.stringify(nodeText(node))}`, node.pos);
      // falls through (fail never returns)
      default:
        return { type: 'chain', pos: node.pos, node, fields };
    }
  }

  private term(): ArgNode | null {
    const t = this.nextNonSpace();
    switch (t.type) {
      case 'identifier':
        if (!this.funcs.has(t.val)) this.fail(`function "${t.val}" not defined`, t.pos);
        return { type: 'identifier', pos: t.pos, name: t.val };
      case 'dot':
        return { type: 'dot', pos: t.pos };
      case 'nil':
        return { type: 'nil', pos: t.pos };
      case 'variable':
        if (!this.vars.includes(t.val)) this.fail(`undefined variable "${t.val}"`, t.pos);
        return { type: 'variable', pos: t.pos, idents: [t.val] };
      case 'field':
        return { type: 'field', pos: t.pos, idents: [t.val.slice(1)] };
      case 'bool':
        return { type: 'bool', pos: t.pos, value: t.val === 'true' };
      case 'charConstant': {
        const s = this.unquoteTok(t);
        return { type: 'number', pos: t.pos, value: s.codePointAt(0)!, isFloat: false, text: t.val };
      }
      case 'number':
        try {
          const { value, isFloat } = parseGoNumber(t.val);
          return { type: 'number', pos: t.pos, value, isFloat, text: t.val };
        } catch (e) {
          this.fail((e as Error).message, t.pos);
        }
      // falls through (fail never returns)
      case 'leftParen': {
        const pipe = this.pipeline('parenthesized pipeline', 'rightParen');
        return { ...pipe, pos: t.pos };
      }
      case 'string':
      case 'rawString':
        return { type: 'string', pos: t.pos, quoted: t.val, value: this.unquoteTok(t) };
      default:
        this.backup();
        return null;
    }
  }

  private unquoteTok(t: Token): string {
    try {
      return unquote(t.val);
    } catch {
      this.fail(`invalid syntax: ${t.val}`, t.pos);
    }
  }
}

function nodeText(n: ArgNode): string {
  if (n.type === 'string') return n.quoted;
  if (n.type === 'number') return n.text;
  if (n.type === 'bool') return String(n.value);
  return n.type === 'nil' ? 'nil' : '.';
}

function isItemEnd(n: Node | ItemEnd): n is ItemEnd {
  return 'kind' in n;
}
