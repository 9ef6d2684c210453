// No `node:` import here: the web UI's build type-checks src/structs with the DOM library and without Node's
// types, so that it can import the model's types instead of copying them. `crypto` is the Web Crypto global
// both Node (19+) and browsers have; Node's `randomUUID` there is the same function as node:crypto's.

/** A new random UUID, the form Nomad uses for every ID. */
export function generateUUID(): string {
  return globalThis.crypto.randomUUID();
}

/** The first 8 characters, as Nomad's CLI shows IDs. */
export function shortID(id: string): string {
  return id.slice(0, 8);
}

export const NS_PER_MS = 1_000_000;
export const NS_PER_S = 1_000_000_000;

/** Allocation names: `<job>.<group>[<index>]`. */
export function allocName(jobID: string, group: string, index: number): string {
  return `${jobID}.${group}[${index}]`;
}

/** Parses the index back out of an allocation name; -1 when it has none. */
export function allocIndex(name: string): number {
  const m = /\[(\d+)\]$/.exec(name);
  return m ? Number(m[1]) : -1;
}
