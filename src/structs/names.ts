/**
 * Names and identifiers that come from users and end up in file paths, DNS names, URLs and log lines.
 * One home for their rules, called when a job file is parsed, when a job is registered (validation) and by
 * the client before it builds any path from one. Nomad's rules, a little stricter where a name becomes a path:
 *
 *   job ID          1-128 characters, no whitespace, no control characters (Nomad: no space, no NUL)
 *   job name        up to 128 characters, no control characters
 *   group, task     1-128 characters, no control characters, no "/" or "\", not "." or ".." (a task name is a
 *                   directory of the allocation directory; Nomad refuses "/" in task names)
 *   namespace       Nomad's ^[a-zA-Z0-9-]{1,128}$
 *   variable path   Nomad's ^[a-zA-Z0-9-_~/]{1,128}$ (variables never become file paths)
 *   service name    letters, digits, "-", "_", "." (and ${...} interpolations before they are resolved), up to 63
 *                   characters once resolved (a DNS label), no control characters
 *
 * Each check returns the problem as a sentence, or undefined when the name is valid; callers add the field path.
 */

export const MAX_NAME_LENGTH = 128;
export const MAX_SERVICE_NAME_LENGTH = 63;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const NAMESPACE_RE = /^[a-zA-Z0-9-]{1,128}$/;
const VARIABLE_PATH_RE = /^[a-zA-Z0-9\-_~/]{1,128}$/;
const SERVICE_RE = /^[a-zA-Z0-9${}._-]+$/;

function common(kind: string, v: unknown, allowEmpty = false): string | undefined {
  if (typeof v !== 'string') return `${kind} must be a string`;
  if (v === '' && !allowEmpty) return `${kind} must not be empty`;
  if (v.length > MAX_NAME_LENGTH) return `${kind} is ${v.length} characters long; the limit is ${MAX_NAME_LENGTH}`;
  if (v.includes('\0')) return `${kind} ${JSON.stringify(v)} contains a null character`;
  if (CONTROL.test(v)) return `${kind} ${JSON.stringify(v)} contains a control character`;
  return undefined;
}

export function jobIDProblem(id: unknown): string | undefined {
  const p = common('job ID', id);
  if (p) return p;
  if (/\s/.test(id as string)) return `job ID ${JSON.stringify(id)} contains a space`;
  return undefined;
}

export function jobNameProblem(name: unknown): string | undefined {
  return common('job name', name, true);
}

/** Group and task names become directories and file names: no separators, no dot names. */
function pathSegmentProblem(kind: string, name: unknown): string | undefined {
  const p = common(kind, name);
  if (p) return p;
  const s = name as string;
  if (s.includes('/') || s.includes('\\')) return `${kind} ${JSON.stringify(s)} must not contain "/" or "\\"`;
  if (s === '.' || s === '..') return `${kind} must not be "." or ".."`;
  return undefined;
}

export function groupNameProblem(name: unknown): string | undefined {
  return pathSegmentProblem('task group name', name);
}

export function taskNameProblem(name: unknown): string | undefined {
  return pathSegmentProblem('task name', name);
}

export function namespaceNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'namespace must be a string';
  if (!NAMESPACE_RE.test(name)) return `invalid namespace ${JSON.stringify(name)}: 1 to 128 letters, digits and "-"`;
  return undefined;
}

export function variablePathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'variable path must be a string';
  if (!VARIABLE_PATH_RE.test(path))
    return `invalid path ${JSON.stringify(path)}: up to 128 characters of letters, digits, "-", "_", "~" and "/"`;
  return undefined;
}

/** `resolved`: the name after interpolation (a DNS label then), as the client registers it. */
export function serviceNameProblem(name: unknown, resolved = false): string | undefined {
  if (typeof name !== 'string') return 'service name must be a string';
  if (name.length > MAX_NAME_LENGTH)
    return `service name is ${name.length} characters long; the limit is ${MAX_NAME_LENGTH}`;
  if (CONTROL.test(name)) return `service name ${JSON.stringify(name)} contains a control character`;
  if (!SERVICE_RE.test(name))
    return `service name ${JSON.stringify(name)} may only hold letters, digits, "-", "_" and "." (and interpolations)`;
  if (resolved && (name.includes('$') || name.length > MAX_SERVICE_NAME_LENGTH)) {
    return `service name ${JSON.stringify(name)} must be 1 to ${MAX_SERVICE_NAME_LENGTH} letters, digits, "-", "_" and "."`;
  }
  return undefined;
}

/** Allocation IDs name directories and state files on the client: a UUID-like token, nothing else. */
export function allocIDProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || !/^[a-zA-Z0-9._-]{1,64}$/.test(id) || id === '.' || id === '..')
    return `invalid allocation ID ${JSON.stringify(id)}`;
  return undefined;
}
