/**
 * Inclusive port ranges as an operator writes them ("5432,10000-20000"): the gateway's `tcp_ports`. Here rather
 * than in the gateway so the agent config's parser can check the value without importing the gateway.
 */

/** Inclusive port ranges a TCP route may listen on (gateway `tcp_ports`). */
export type PortRanges = readonly (readonly [number, number])[];

/** Parses `tcp_ports = "5432,10000-20000"`; returns the reason when the text is not a list of ports and ranges. */
export function parsePortRanges(text: string): PortRanges | string {
  const out: [number, number][] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2] ?? m[1]) : NaN;
    if (!m || lo < 1 || hi > 65535 || lo > hi)
      return `expects ports and ranges between 1 and 65535 such as "5432,10000-20000", got ${JSON.stringify(part)}`;
    out.push([lo, hi]);
  }
  return out;
}
