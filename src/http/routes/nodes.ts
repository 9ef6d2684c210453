/** Node endpoints: `/v1/nodes` (`resources`, `os`, list parameters), `/v1/node/:id[/allocations]`. */
import type { Node, NodeListStub } from '../../structs/index.js';
import type { Router } from '../router.js';
import { JsonReply } from '../reply.js';
import { boolParam, queryOptions } from '../query.js';
import { listParams, listReply } from '../list.js';
import type { ServerRouteOptions } from '../types.js';

/** Nomad's NodeListStub fields asked for by `?resources=true` and `?os=true`. */
type NodeStubPlus = NodeListStub & Partial<Pick<Node, 'NodeResources' | 'ReservedResources'>>;

export function nodeRoutes(r: Router, opts: ServerRouteOptions): void {
  const server = opts.server;
  r.get('/v1/nodes', async (c) => {
    const lp = listParams(c.query);
    const resources = boolParam(c.query, 'resources');
    const os = boolParam(c.query, 'os');
    const res = await server.nodes.list(queryOptions(c.query, c));
    if (!resources && !os) return listReply(lp, res);
    const value: NodeStubPlus[] = [];
    for (const stub of res.value) {
      const node = (await server.nodes.get(stub.ID)).value;
      const out: NodeStubPlus = { ...stub };
      if (resources) {
        out.NodeResources = node.NodeResources;
        out.ReservedResources = node.ReservedResources;
      }
      // As Nomad: only the os.* attributes, not the whole fingerprint.
      if (os)
        out.Attributes = Object.fromEntries(Object.entries(node.Attributes ?? {}).filter(([k]) => k.startsWith('os.')));
      value.push(out);
    }
    return listReply(lp, { value, index: res.index });
  });
  r.get('/v1/node/:id', async (c) => {
    const res = await server.nodes.get(c.params.id!, queryOptions(c.query, c));
    // The API never shows a node's secret.
    const { SecretID: _secret, ...node } = res.value;
    return new JsonReply(node, res.index);
  });
  r.get('/v1/node/:id/allocations', async (c) => {
    const lp = listParams(c.query);
    return listReply(lp, await server.nodes.allocations(c.params.id!, queryOptions(c.query, c)));
  });
}
