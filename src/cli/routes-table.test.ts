import { describe, expect, it } from 'vitest';
import { formatRoutesTable } from './routes-table.js';

describe('the routes table for the CLI', () => {
  it('shows one row per instance, the ejected ones marked, and routes without instances', () => {
    const text = formatRoutesTable(
      [
        {
          Name: '/api',
          Host: '',
          Prefix: '/api',
          Strip: '/api',
          LB: 'round_robin',
          Services: ['api'],
          Targets: [
            {
              ID: 'aaaaaaaa-1',
              ServiceName: 'api',
              AllocID: 'x',
              NodeID: 'n',
              Address: '10.0.0.1',
              Port: 80,
              Active: 2,
              EjectedUntil: 0,
            },
            {
              ID: 'bbbbbbbb-2',
              ServiceName: 'api',
              AllocID: 'y',
              NodeID: 'n',
              Address: '10.0.0.2',
              Port: 80,
              Active: 0,
              EjectedUntil: 5_000,
            },
          ],
        },
        { Name: '/empty', Host: '', Prefix: '/empty', Strip: '', LB: 'least_conn', Services: ['e'], Targets: [] },
      ],
      1_000,
    );
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Route\s+Strip\s+LB\s+Service\s+Instance\s+Address\s+Active\s+State$/);
    expect(lines[1]).toMatch(/^\/api\s+\/api\s+round_robin\s+api\s+aaaaaaaa\s+10\.0\.0\.1:80\s+2\s+ok$/);
    expect(lines[2]).toMatch(/^\s+api\s+bbbbbbbb\s+10\.0\.0\.2:80\s+0\s+ejected 4s$/);
    expect(lines[3]).toMatch(/^\/empty\s+-\s+least_conn\s+e\s+-\s+-\s+0\s+no instances$/);
  });

  it('says so when there are no routes', () => {
    expect(formatRoutesTable([])).toMatch(/^No routes/);
  });
});
