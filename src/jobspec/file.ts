/**
 * Job files from disk or text for the CLI: JSON when the name ends in .json or the text starts
 * with `{`, HCL2 otherwise.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Job } from '../structs/index.js';
import { parseJobHCL, type ParseHCLOptions } from './parse-hcl.js';
import { parseJobJSON } from './json.js';

export type ParseJobFileOptions = ParseHCLOptions;

export function looksLikeJSON(src: string, filename?: string): boolean {
  return /\.json$/i.test(filename ?? '') || src.trimStart().startsWith('{');
}

/** Parses job text, HCL2 or JSON. Throws DroverError('JobParse' | 'JobValidation'). */
export function parseJobSource(src: string, opts: ParseJobFileOptions = {}): { job: Job; warnings: string[] } {
  if (looksLikeJSON(src, opts.filename)) return { job: parseJobJSON(src, opts.filename), warnings: [] };
  return parseJobHCL(src, opts);
}

/** Reads and parses a job file; `file()` in HCL resolves relative to the file's directory. */
export function parseJobFile(
  path: string,
  opts: Omit<ParseJobFileOptions, 'filename'> = {},
): { job: Job; warnings: string[] } {
  return parseJobSource(readFileSync(path, 'utf8'), { allowFS: true, baseDir: dirname(path), ...opts, filename: path });
}
