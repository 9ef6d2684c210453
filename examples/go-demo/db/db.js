// The go-demo database, a stand-in for the seed's mongo:3.2.10: a set of people's names kept in memory and in
// a JSON file in the allocation's data directory. PUT /people/<name> adds one, GET /people lists them.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(process.env.NOMAD_ALLOC_DIR || '.', 'data', 'people.json');
let people = [];
try {
  people = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch {
  people = [];
}

const server = http.createServer((req, res) => {
  const m = /^\/people(?:\/([^/]+))?$/.exec(req.url);
  if (m && req.method === 'GET' && !m[1]) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(people) + '\n');
  } else if (m && req.method === 'PUT' && m[1]) {
    const name = decodeURIComponent(m[1]).slice(0, 100);
    if (!people.includes(name)) people.push(name);
    fs.writeFile(file, JSON.stringify(people), () => res.writeHead(200).end());
  } else {
    res.writeHead(404).end();
  }
});
server.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
