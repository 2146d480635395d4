'use strict';
// The HTTP ceiling: a bare Fastify server (the service's own Fastify version) that parses the
// JSON body and answers a constant. No NestJS, no validation, no model, no logging.
// usage: node bench/ceiling-server.js PORT
const fastify = require('fastify')({ logger: false });

const port = Number(process.argv[2]);

fastify.post('/prediction', async (request) => {
  void request.body;
  return { prediction: 'setosa' };
});

fastify.listen({ host: '127.0.0.1', port }).catch((error) => {
  console.error(error);
  process.exit(1);
});
