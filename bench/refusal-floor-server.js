'use strict';
// The overload run's floor: a bare Fastify server (the service's version) that refuses every
// request to the overload run's route at once with 429 and Retry-After, listening on as many
// SO_REUSEPORT sockets as a replica does. Behind the same nginx, under the same 512 connections,
// it shows what this machine, nginx and the load generator allow before any work is done: the
// slowest first answer of a server that does nothing.
// usage: node bench/refusal-floor-server.js PORT PATH (after `npm run build`)
const { createServer } = require('node:net');
const fastify = require('fastify')({ logger: false });
const { LISTENING_SOCKETS } = require('../dist/http/shared-port.js');

const port = Number(process.argv[2]);
const path = process.argv[3];

fastify.post(path, async (request, reply) => {
  void request.body;
  return reply.code(429).header('retry-after', '1').send({ error: 'the queue is full; retry shortly' });
});

async function main() {
  await fastify.listen({ host: '127.0.0.1', port, reusePort: true });
  for (let i = 1; i < LISTENING_SOCKETS; i++) {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => fastify.server.emit('connection', socket));
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, reusePort: true }, resolve);
    });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
