/**
 * Vitest global setup: says once, loudly, that Nomad's conformance data is missing and the tests that read it
 * are skipped; under CI=true it fails the run instead (see conformance-data.ts).
 */
import { checkConformanceData } from './conformance-data.js';

export default function setup(): void {
  const r = checkConformanceData(process.env);
  // Both projects (unit, e2e) name this setup; in one run it speaks once.
  if (r.ok || process.env['DROVER_CONFORMANCE_WARNED']) return;
  process.env['DROVER_CONFORMANCE_WARNED'] = '1';
  // eslint-disable-next-line no-console -- the one message a run without the data prints, before any test
  console.warn(`\n\x1b[1;33m!!! ${r.message.replace(/\n/g, '\n    ')}\x1b[0m\n`);
}
