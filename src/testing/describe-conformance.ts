/** `describe` / `it` for the tests that read Nomad's conformance data: skipped when it is missing (see conformance-data.ts). */
import { describe, it } from 'vitest';
import { HAS_CONFORMANCE_DATA } from './conformance-data.js';

/** `describe` for tests that read the data: skipped, with the global setup's one message, when it is missing. */
export const describeConformance = describe.skipIf(!HAS_CONFORMANCE_DATA);

/** `it` for one test that reads the data inside an otherwise self-contained describe. */
export const itConformance = it.skipIf(!HAS_CONFORMANCE_DATA);
