// The demo page's own origin: the page, the Web SDK and where the API is. Used by run.mjs, and
// by `scripts/dev` for a newcomer to click through a login (README "Demo page").
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const files = {
  '/': ['page/index.html', 'text/html; charset=utf-8'],
  '/app.js': ['page/app.js', 'text/javascript'],
  '/sdk.js': ['node_modules/appwrite/dist/iife/sdk.js', 'text/javascript'],
};

export function serve(port, endpoint, project) {
  const server = http.createServer(async (req, res) => {
    const route = new URL(req.url, 'http://x').pathname;
    if (route === '/config.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(`window.CONFIG = ${JSON.stringify({ endpoint, project })};`);
      return;
    }
    const file = files[route];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file[1] });
    res.end(await readFile(path.join(here, file[0])));
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, endpoint, project] = process.argv.slice(2);
  await serve(Number(port), endpoint, project);
  console.log(`demo page on http://localhost:${port} (API ${endpoint}, project ${project})`);
}
