// The baseline: the least a Node server can do to answer a redirect.
import { createServer } from 'node:http';

const server = createServer((_req, res) => {
  res.writeHead(302, { Location: 'https://mirror.example/file' });
  res.end();
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
