/**
 * A group's network mode and port mappings: one network block per group, a mode the client knows, and `to` only
 * where something maps it (a namespace in bridge / CNI mode, or docker's own port publishing in host mode).
 */
type Obj = Record<string, any>;

const MODES = ['', 'host', 'bridge', 'none'];

/** Problems of `g.Networks`, reported with their struct paths under `path`. */
export function groupNetworkProblems(g: Obj, path: string, report: (path: string, message: string) => void): void {
  const nets: Obj[] = Array.isArray(g.Networks) ? g.Networks : [];
  if (nets.length > 1) report(`${path}.Networks`, `only one network block is allowed per group, got ${nets.length}`);
  const n = nets[0];
  if (!n) return;
  const mode = typeof n.Mode === 'string' ? n.Mode : '';
  const cni = /^cni\/[A-Za-z0-9_.-]+$/.test(mode);
  if (!MODES.includes(mode) && !cni)
    report(`${path}.Networks[0].Mode`, `unknown network mode "${mode}": expected host, bridge, none or cni/<network>`);
  if (mode !== '' && mode !== 'host') return;
  const tasks: Obj[] = Array.isArray(g.Tasks) ? g.Tasks : [];
  // Docker publishes `to` itself in host mode (its own bridge); every other driver runs on the host's ports.
  if (tasks.length > 0 && tasks.every((t) => t.Driver === 'docker')) return;
  for (const kind of ['ReservedPorts', 'DynamicPorts'] as const)
    (Array.isArray(n[kind]) ? (n[kind] as Obj[]) : []).forEach((p, j) => {
      if (typeof p?.To === 'number' && p.To !== 0)
        report(
          `${path}.Networks[0].${kind}[${j}].To`,
          `port "${p.Label}" maps to ${p.To}, but the group's network mode is "${mode || 'host'}": \`to\` needs mode = "bridge" (or docker tasks only)`,
        );
    });
}
