import { DroverError } from '../errors/index.js';

/** Where a template failed: parsing the text, or executing it against data. */
export type TemplateErrorPhase = 'parse' | 'exec';

/**
 * A template that could not be parsed or executed. It is a user error (bad template text or data that does not
 * fit it), so it carries the BadRequest code; `templateName`, `line` and `column` say where, in Go's
 * `name:line:col` convention (column is the 0-based offset in the line, as Go reports it).
 */
export class TemplateError extends DroverError {
  readonly phase: TemplateErrorPhase;
  readonly templateName: string;
  readonly line: number;
  readonly column: number;

  constructor(
    phase: TemplateErrorPhase,
    message: string,
    where: { templateName: string; line: number; column: number },
    opts: { cause?: unknown } = {},
  ) {
    super('BadRequest', message, {
      cause: opts.cause,
      details: { phase, template: where.templateName, line: where.line, column: where.column },
      problems: [{ message, line: where.line, column: where.column, file: where.templateName }],
    });
    this.name = 'TemplateError';
    this.phase = phase;
    this.templateName = where.templateName;
    this.line = where.line;
    this.column = where.column;
  }
}

export function isTemplateError(e: unknown): e is TemplateError {
  return e instanceof TemplateError;
}

/** Maps an offset in the source to Go's line (1-based) and column (0-based byte offset in the line). */
export function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart };
}
