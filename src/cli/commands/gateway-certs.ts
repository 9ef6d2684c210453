/**
 * `drover gateway certs [-gateway URL]`: the certificates a running gateway's HTTPS listener holds (default file,
 * Variables, ACME), whether each is served, when it expires, and why one is not served (expired, key mismatch,
 * names not covering the host). Read from the gateway's admin `/certs` JSON.
 */
import type { CertInfo } from '../../gateway/index.js';
import { command } from '../command.js';
import { fetchAdminList, gatewayBase, GATEWAY_ADMIN_OPTIONS } from './gateway-routes.js';

/** One line per certificate: host, source, expiry, and SERVING or the problem. */
export function formatCertsTable(certs: CertInfo[]): string {
  if (certs.length === 0) return 'No certificates (the gateway has no tls_listen)\n';
  const rows = [
    ['Host', 'Source', 'Origin', 'Not After', 'Status'],
    ...certs.map((c) => [
      c.Host || '(default)',
      c.Source,
      c.Origin,
      c.NotAfter || '-',
      c.Problem === '' ? (c.Serving ? 'serving' : 'not serving') : `NOT SERVED: ${c.Problem}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') +
    '\n'
  );
}

export const gatewayCerts = command('gateway certs', {
  summary: "List a gateway's TLS certificates, whether each is served, and why not",
  noGlobals: true,
  options: GATEWAY_ADMIN_OPTIONS,
  async run(ctx, _args, opts) {
    const base = gatewayBase(opts, ctx.env);
    const certs = await fetchAdminList<CertInfo>(base, 'certs', ctx.signal);
    if (opts.json === true) ctx.out.printJSON(certs);
    else ctx.out.raw(formatCertsTable(certs));
    return 0;
  },
});
