/**
 * Nomad's root keyring endpoints (the keys that seal variables at rest; see server/keyring.ts):
 *   GET    /v1/operator/keyring/keys            → RootKeyMeta[]
 *   PUT    /v1/operator/keyring/rotate?full=true → {Key: RootKeyMeta}   (full: re-encrypt every variable, in the background)
 *   DELETE /v1/operator/keyring/key/:id         → {}   (409 for the active key or a key still in use)
 */
import { badRequest } from '../../errors/index.js';
import type { Router } from '../router.js';
import type { ServerRouteOptions } from '../types.js';

export function keyringRoutes(r: Router, { server }: ServerRouteOptions): void {
  r.get('/v1/operator/keyring/keys', () => server.keyring.list());
  r.write('/v1/operator/keyring/rotate', async (c) => {
    const full = c.query.get('full');
    if (full !== null && full !== '' && full !== 'true' && full !== 'false')
      throw badRequest(`invalid full "${full}": expected true or false`);
    return { Key: await server.keyring.rotate(full === 'true' || full === '') };
  });
  r.on('DELETE', '/v1/operator/keyring/key/:id', async (c) => {
    await server.keyring.remove(c.params.id!);
    return {};
  });
}
