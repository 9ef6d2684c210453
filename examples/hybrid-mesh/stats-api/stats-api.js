// The seed's simpleGoAPI as a Node script: GET / answers the stats.json a template rendered beside it, with
// CORS open as the seed's dashboard needs, plus this process's memory use. PORT and HOST come from the job.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, 'stats.json');
const server = http.createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  fs.readFile(file, 'utf8', (err, text) => {
    if (err) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('stats.json is not rendered yet\n');
      return;
    }
    let stats;
    try {
      stats = JSON.parse(text);
    } catch {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('stats.json is not JSON\n');
      return;
    }
    stats.rssBytes = process.memoryUsage().rss;
    res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
    res.end(JSON.stringify(stats) + '\n');
  });
});
server.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
