// The stats API the CD example ships as an artifact (a tarball served by the file server job), run by the
// raw_exec driver with the host's node: GET /stats answers the process's and the host's figures as JSON.
const http = require('node:http');
const os = require('node:os');

const version = process.env.APP_VERSION || 'dev';
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      version,
      node: os.hostname(),
      uptime_s: Math.round(process.uptime()),
      load: os.loadavg(),
      rss_bytes: process.memoryUsage().rss,
    }) + '\n',
  );
});
// Behind a proxy that keeps connections open (Drover's gateway), the backend must not be the side that closes
// an idle keep-alive connection: a request sent on it at that moment would be reset.
server.keepAliveTimeout = 120_000;
server.listen(Number(process.env.PORT || 8001), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
