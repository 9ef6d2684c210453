// A stand-in for the AirVisual API the seed's service calls (api.airvisual.com/v2/nearest_city): the nearest of
// a few fixture cities to ?lat=&lon=, in AirVisual's response shape. No network beyond loopback, no key.
// Run as: node upstream.js <fixtures.json>, with PORT and HOST in the environment.
'use strict';
const http = require('node:http');
const fs = require('node:fs');

const cities = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fail = (res, status, message) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: 'fail', data: { message } }) + '\n');
};

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://upstream');
  if (url.pathname === '/health') return res.end('ok\n');
  if (url.pathname !== '/v2/nearest_city') return fail(res, 404, `no route ${url.pathname}`);
  const lat = Number(url.searchParams.get('lat'));
  const lon = Number(url.searchParams.get('lon'));
  if (!url.searchParams.has('lat') || !Number.isFinite(lat) || Math.abs(lat) > 90)
    return fail(res, 400, 'lat must be a number between -90 and 90');
  if (!url.searchParams.has('lon') || !Number.isFinite(lon) || Math.abs(lon) > 180)
    return fail(res, 400, 'lon must be a number between -180 and 180');
  const d = (c) => (c.lat - lat) ** 2 + (c.lon - lon) ** 2;
  const c = cities.reduce((a, b) => (d(b) < d(a) ? b : a));
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      status: 'success',
      data: {
        city: c.city,
        state: c.state,
        country: c.country,
        location: { type: 'Point', coordinates: [c.lon, c.lat] },
        current: { pollution: { ts: new Date().toISOString(), aqius: c.aqius, mainus: c.mainus } },
      },
    }) + '\n',
  );
});
server.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
