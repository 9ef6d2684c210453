/** Test helpers for code that talks to the HTTP API: a fake Nomad-shaped server. */
export {
  FakeNomad,
  BlockingValue,
  closedPort,
  type FakeAnswer,
  type FakeHandler,
  type FakeRequest,
} from './fake-nomad.js';
