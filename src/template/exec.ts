/**
 * Executes parsed template trees against data, with Go's text/template semantics: variable scoping (a structure
 * pops the variables declared inside it), range over slices / maps in key order / ints, break and continue,
 * lazy and/or, method calls on data, missing keys as `<no value>` or errors, and errors that name the template,
 * the line and column, and the failing expression.
 */
import {
  nodeString,
  type ArgNode,
  type BranchFields,
  type ChainNode,
  type CommandNode,
  type FieldNode,
  type IdentifierNode,
  type ListNode,
  type Node,
  type PipeNode,
  type TemplateNode,
  type VariableNode,
} from './ast.js';
import { builtinFuncs, toSpec, type FuncMap, type FuncSpec } from './builtins.js';
import { lineCol, TemplateError } from './errors.js';
import { printValue } from './fmt.js';
import { findMethod, kindOf, mapGet, mapHas, sortedKeys, truth, typeName } from './values.js';

/** One named tree and where it came from, for error positions. */
export interface TreeInfo {
  list: ListNode;
  /** Name of the template whose text defined this tree (Go's ParseName). */
  parseName: string;
  source: string;
}

export interface ExecOptions {
  /** `error`: a missing map key fails the render (Nomad's error_on_missing_key); default prints `<no value>`. */
  missingKey?: 'default' | 'error';
  /** Nesting limit for {{template}} calls. */
  maxDepth?: number;
}

const enum Flow {
  Normal = 0,
  Break = 1,
  Continue = 2,
}

/** Marks "no value piped in" (distinct from undefined, which is a value: the missing one). */
const NO_FINAL: unique symbol = Symbol('noFinal');
type Final = unknown;

class ExecAbort extends Error {}

export function execute(
  trees: Map<string, TreeInfo>,
  name: string,
  data: unknown,
  funcs: FuncMap,
  opts: ExecOptions = {},
): string {
  const tree = trees.get(name);
  if (!tree) {
    throw new TemplateError('exec', `template: no template "${name}" defined`, {
      templateName: name,
      line: 0,
      column: 0,
    });
  }
  const st = new ExecState(trees, funcs, opts, name, tree);
  st.vars.push({ name: '$', value: data });
  st.walk(data, tree.list);
  return st.out.join('');
}

interface Variable {
  name: string;
  value: unknown;
}

class ExecState {
  readonly out: string[] = [];
  readonly vars: Variable[] = [];
  private depth = 0;
  private readonly missingKeyError: boolean;
  private readonly maxDepth: number;

  constructor(
    private readonly trees: Map<string, TreeInfo>,
    private readonly funcs: FuncMap,
    opts: ExecOptions,
    private tmplName: string,
    private tree: TreeInfo,
  ) {
    this.missingKeyError = opts.missingKey === 'error';
    this.maxDepth = opts.maxDepth ?? 1000;
  }

  // ---- errors ---------------------------------------------------------------------------------

  private fail(node: { pos: number } & (ArgNode | CommandNode | Node), msg: string, cause?: unknown): never {
    const { line, column } = lineCol(this.tree.source, node.pos);
    let ctx = nodeString(node);
    if (ctx.length > 20) ctx = ctx.slice(0, 20) + '...';
    const where = `${this.tree.parseName}:${line}:${column}`;
    throw new TemplateError(
      'exec',
      `template: ${where}: executing "${this.tmplName}" at <${ctx}>: ${msg}`,
      {
        templateName: this.tree.parseName,
        line,
        column,
      },
      { cause },
    );
  }

  // ---- variables ------------------------------------------------------------------------------

  private setVar(name: string, value: unknown): void {
    const v = this.vars.findLast((x) => x.name === name);
    if (v === undefined) throw new ExecAbort(`undefined variable: ${name}`);
    v.value = value;
  }

  private varValue(node: VariableNode): unknown {
    const name = node.idents[0]!;
    const v = this.vars.findLast((x) => x.name === name);
    if (v === undefined) this.fail(node, `undefined variable: ${name}`);
    return v.value;
  }

  // ---- walking --------------------------------------------------------------------------------

  walk(dot: unknown, node: Node): Flow {
    switch (node.type) {
      case 'action': {
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.print(node, val);
        return Flow.Normal;
      }
      case 'text':
        this.out.push(node.text);
        return Flow.Normal;
      case 'list':
        for (const n of node.nodes) {
          const f = this.walk(dot, n);
          if (f !== Flow.Normal) return f;
        }
        return Flow.Normal;
      case 'if':
      case 'with':
        return this.walkIfOrWith(node.type, dot, node);
      case 'range':
        return this.walkRange(dot, node);
      case 'template':
        this.walkTemplate(dot, node);
        return Flow.Normal;
      case 'break':
        return Flow.Break;
      case 'continue':
        return Flow.Continue;
    }
  }

  private print(node: Node, val: unknown): void {
    if (typeof val === 'function') this.fail(node, `can't print ${nodeString(node)} of type func`);
    this.out.push(typeof val === 'string' ? val : printValue(val));
  }

  private walkIfOrWith(kind: 'if' | 'with', dot: unknown, node: BranchFields): Flow {
    const mark = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      if (truth(val)) return this.walk(kind === 'with' ? val : dot, node.list);
      if (node.elseList) return this.walk(dot, node.elseList);
      return Flow.Normal;
    } finally {
      this.vars.length = mark;
    }
  }

  private walkRange(dot: unknown, node: BranchFields): Flow {
    const mark = this.vars.length;
    try {
      const val = this.evalPipeline(dot, node.pipe);
      const iterMark = this.vars.length;
      let count = 0;
      const one = (key: unknown, elem: unknown): boolean => {
        count++;
        const decl = node.pipe.decl;
        if (decl.length > 0) {
          if (node.pipe.isAssign) {
            if (decl.length > 1) {
              this.setVar(decl[0]!.idents[0]!, key);
              this.setVar(decl[1]!.idents[0]!, elem);
            } else this.setVar(decl[0]!.idents[0]!, elem);
          } else {
            this.vars[this.vars.length - 1]!.value = elem;
            if (decl.length > 1) this.vars[this.vars.length - 2]!.value = key;
          }
        }
        const f = this.walk(elem, node.list);
        this.vars.length = iterMark;
        return f === Flow.Break;
      };
      switch (kindOf(val)) {
        case 'slice':
          for (let i = 0; i < (val as unknown[]).length; i++) if (one(i, (val as unknown[])[i])) break;
          break;
        case 'map': {
          const m = val as object;
          for (const k of sortedKeys(m)) if (one(k, mapGet(m, k))) break;
          break;
        }
        case 'int': {
          if (node.pipe.decl.length > 1)
            this.fail(node.pipe, `can't use ${printValue(val)} to iterate over more than one variable`);
          for (let i = 0; i < (val as number); i++) if (one(i, i)) break;
          break;
        }
        case 'invalid':
        case 'nil':
          break;
        default:
          this.fail(node.pipe, `range can't iterate over ${printValue(val)}`);
      }
      if (count === 0 && node.elseList) return this.walk(dot, node.elseList);
      return Flow.Normal;
    } finally {
      this.vars.length = mark;
    }
  }

  private walkTemplate(dot: unknown, node: TemplateNode): void {
    const tree = this.trees.get(node.name);
    if (!tree) this.fail(node, `template "${node.name}" not defined`);
    if (this.depth >= this.maxDepth) this.fail(node, `exceeded maximum template depth (${this.maxDepth})`);
    const newDot = node.pipe ? this.evalPipeline(dot, node.pipe) : undefined;
    const saved = { vars: this.vars.splice(0), name: this.tmplName, tree: this.tree };
    this.depth++;
    this.tmplName = node.name;
    this.tree = tree;
    this.vars.push({ name: '$', value: newDot });
    try {
      this.walk(newDot, tree.list);
    } finally {
      this.depth--;
      this.vars.splice(0, this.vars.length, ...saved.vars);
      this.tmplName = saved.name;
      this.tree = saved.tree;
    }
  }

  // ---- pipelines and commands -----------------------------------------------------------------

  private evalPipeline(dot: unknown, pipe: PipeNode): unknown {
    let value: Final = NO_FINAL;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value);
    if (value === NO_FINAL) value = undefined;
    for (const v of pipe.decl) {
      if (pipe.isAssign) {
        try {
          this.setVar(v.idents[0]!, value);
        } catch (e) {
          if (e instanceof ExecAbort) this.fail(v, e.message);
          throw e;
        }
      } else this.vars.push({ name: v.idents[0]!, value });
    }
    return value;
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    const first = cmd.args[0]!;
    switch (first.type) {
      case 'field':
        return this.evalFieldChain(dot, dot, first, first.idents, cmd, final);
      case 'chain':
        return this.evalChain(dot, first, cmd, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, final);
      case 'pipe':
        this.notAFunction(cmd, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariable(dot, first, cmd, final);
    }
    this.notAFunction(cmd, final);
    switch (first.type) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        this.fail(first, 'nil is not a command');
      // falls through (fail never returns)
      case 'number':
        return first.value;
      case 'string':
        return first.value;
    }
  }

  private notAFunction(cmd: CommandNode, final: Final): void {
    if (cmd.args.length > 1 || final !== NO_FINAL)
      this.fail(cmd, `can't give argument to non-function ${nodeString(cmd.args[0]!)}`);
  }

  private evalArg(dot: unknown, arg: ArgNode): unknown {
    switch (arg.type) {
      case 'dot':
        return dot;
      case 'nil':
        return null;
      case 'field':
        return this.evalFieldChain(dot, dot, arg, arg.idents, null, NO_FINAL);
      case 'variable':
        return this.evalVariable(dot, arg, null, NO_FINAL);
      case 'pipe':
        return this.evalPipeline(dot, arg);
      case 'identifier':
        return this.evalFunction(dot, arg, null, NO_FINAL);
      case 'chain':
        return this.evalChain(dot, arg, null, NO_FINAL);
      case 'bool':
      case 'number':
      case 'string':
        return arg.value;
    }
  }

  private evalVariable(dot: unknown, node: VariableNode, cmd: CommandNode | null, final: Final): unknown {
    const value = this.varValue(node);
    if (node.idents.length === 1) {
      if (cmd) this.notAFunction(cmd, final);
      return value;
    }
    return this.evalFieldChain(dot, value, node, node.idents.slice(1), cmd, final);
  }

  private evalChain(dot: unknown, chain: ChainNode, cmd: CommandNode | null, final: Final): unknown {
    const pipe = this.evalArg(dot, chain.node);
    return this.evalFieldChain(dot, pipe, chain, chain.fields, cmd, final);
  }

  private evalFieldChain(
    dot: unknown,
    receiver: unknown,
    node: FieldNode | VariableNode | ChainNode,
    idents: string[],
    cmd: CommandNode | null,
    final: Final,
  ): unknown {
    let r = receiver;
    for (const ident of idents.slice(0, -1)) r = this.evalField(dot, ident, node, null, NO_FINAL, r);
    return this.evalField(dot, idents[idents.length - 1]!, node, cmd, final, r);
  }

  private evalField(
    dot: unknown,
    name: string,
    node: FieldNode | VariableNode | ChainNode,
    cmd: CommandNode | null,
    final: Final,
    receiver: unknown,
  ): unknown {
    const hasArgs = (cmd !== null && cmd.args.length > 1) || final !== NO_FINAL;
    if (receiver === undefined) {
      if (this.missingKeyError) this.fail(node, `nil data; no entry for key "${name}"`);
      return undefined;
    }
    if (receiver === null) this.fail(node, `nil pointer evaluating interface {}.${name}`);
    const method = findMethod(receiver, name);
    if (method) {
      const args = cmd ? cmd.args.slice(1).map((a) => this.evalArg(dot, a)) : [];
      if (final !== NO_FINAL) args.push(final);
      return this.invoke(cmd ?? node, name, () => method.apply(receiver, args));
    }
    const k = kindOf(receiver);
    if (k === 'map' || k === 'struct') {
      const obj = receiver as object;
      if (mapHas(obj, name)) {
        if (hasArgs) this.fail(node, `${name} is not a method but has arguments`);
        return mapGet(obj, name);
      }
      if (k === 'struct') this.fail(node, `can't evaluate field ${name} in type ${typeName(receiver)}`);
      if (hasArgs) this.fail(node, `${name} is not a method but has arguments`);
      if (this.missingKeyError) this.fail(node, `map has no entry for key "${name}"`);
      return undefined;
    }
    this.fail(node, `can't evaluate field ${name} in type ${typeName(receiver)}`);
  }

  private lookupFunc(name: string): FuncSpec | undefined {
    const user = this.funcs[name];
    if (user) return toSpec(user);
    return builtinFuncs[name];
  }

  private evalFunction(dot: unknown, node: IdentifierNode, cmd: CommandNode | null, final: Final): unknown {
    const spec = this.lookupFunc(node.name);
    if (!spec) this.fail(node, `"${node.name}" is not a defined function`);
    const argNodes = cmd ? cmd.args.slice(1) : [];
    const n = argNodes.length + (final !== NO_FINAL ? 1 : 0);
    const where = cmd ?? node;
    if ((spec.minArgs !== undefined && n < spec.minArgs) || (spec.maxArgs !== undefined && n > spec.maxArgs)) {
      const want =
        spec.minArgs === spec.maxArgs
          ? `${spec.minArgs}`
          : spec.maxArgs === Infinity
            ? `at least ${spec.minArgs}`
            : `${spec.minArgs} to ${spec.maxArgs}`;
      this.fail(where, `wrong number of args for ${node.name}: want ${want} got ${n}`);
    }
    if (spec.shortCircuit) {
      const wantTrue = spec.shortCircuit === 'or';
      let v: unknown = undefined;
      for (const a of argNodes) {
        v = this.evalArg(dot, a);
        if (truth(v) === wantTrue) return v;
      }
      return final !== NO_FINAL ? final : v;
    }
    const args = argNodes.map((a) => this.evalArg(dot, a));
    if (final !== NO_FINAL) args.push(final);
    return this.invoke(where, node.name, () => spec.fn(...args));
  }

  private invoke(where: ArgNode | CommandNode, name: string, f: () => unknown): unknown {
    try {
      return f();
    } catch (e) {
      if (e instanceof TemplateError) throw e;
      this.fail(where, `error calling ${name}: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }
}
