/**
 * The service mesh's API, in Consul's shapes (Drover serves it from the Nomad-style agent):
 *   GET    /v1/connect/intentions                          → Intention[]
 *   POST   /v1/connect/intentions[?replace=true]           {SourceName, DestinationName, Action, ...} → {ID}
 *   GET    /v1/connect/intentions/exact?source=&destination= → Intention
 *   DELETE /v1/connect/intentions/exact?source=&destination=
 *   GET    /v1/connect/intentions/:id                      → Intention
 *   PUT    /v1/connect/intentions/:id                      {…} → Intention   (changes the action or the pair)
 *   DELETE /v1/connect/intentions/:id
 *   GET    /v1/connect/ca/roots                            → {ActiveRootID, Roots: [{ID, Name, RootCert, Active}]}
 * Sidecars read intentions live: a change applies to the next connection, without restarting anything.
 */
import { badRequest } from '../../errors/index.js';
import type { RequestContext, Router } from '../router.js';
import type { IntentionInput } from '../../server/index.js';
import type { ServerRouteOptions } from '../types.js';

function pair(c: RequestContext): { source: string; destination: string } {
  const source = c.query.get('source') ?? '';
  const destination = c.query.get('destination') ?? '';
  if (!source || !destination) throw badRequest('"source" and "destination" query parameters are required');
  return { source, destination };
}

async function body(c: RequestContext): Promise<IntentionInput> {
  const b = await c.json<IntentionInput>();
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw badRequest('the body must be an intention object');
  return b;
}

export function connectRoutes(r: Router, opts: ServerRouteOptions): void {
  // Looked up per request: behind an HA seat the server (and so its mesh) is the current leader's, and none at start.
  const mesh = () => opts.server.mesh;
  r.get('/v1/connect/intentions', () => mesh().intentionList());
  r.write('/v1/connect/intentions', async (c) => {
    const i = await mesh().intentionUpsert(await body(c), { replace: c.query.get('replace') === 'true' });
    return { ID: i.ID };
  });
  r.get('/v1/connect/intentions/exact', (c) => {
    const p = pair(c);
    return mesh().intentionExact(p.source, p.destination);
  });
  r.on('DELETE', '/v1/connect/intentions/exact', async (c) => {
    const p = pair(c);
    await mesh().intentionDelete(mesh().intentionExact(p.source, p.destination).ID);
    return true;
  });
  r.get('/v1/connect/intentions/:id', (c) => mesh().intentionGet(c.params.id!));
  r.on('PUT', '/v1/connect/intentions/:id', async (c) => mesh().intentionUpsert(await body(c), { id: c.params.id! }));
  r.on('DELETE', '/v1/connect/intentions/:id', async (c) => {
    await mesh().intentionDelete(c.params.id!);
    return true;
  });
  r.get('/v1/connect/ca/roots', async () => {
    const root = await mesh().roots();
    return { ActiveRootID: 'root', Roots: [{ ID: 'root', Name: 'Drover Mesh CA', RootCert: root, Active: true }] };
  });
}
