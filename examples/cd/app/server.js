// The CD example's web app: answers its version on / and its health on /health. APP_VERSION is baked into the
// image by the pipeline (the commit); HEALTHY=false is what a broken commit looks like.
const http = require('node:http');

const version = process.env.APP_VERSION || 'dev';
const healthy = process.env.HEALTHY !== 'false';
const port = Number(process.env.PORT || 8000);
const host = process.env.HOST || '127.0.0.1';

const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.statusCode = healthy ? 200 : 503;
    res.end(healthy ? 'ok\n' : 'unhealthy\n');
    return;
  }
  res.setHeader('content-type', 'text/plain');
  res.end(`cd-app ${version}\n`);
});
// Behind a proxy that keeps connections open (Drover's gateway), the backend must not be the side that closes
// an idle keep-alive connection: a request sent on it at that moment would be reset.
server.keepAliveTimeout = 120_000;
server.listen(port, host);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
