import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Once the server is closing, each answer asks the client to close its connection, so that
 * keep-alive clients (a proxy's upstream pool) let the process exit once it has answered;
 * connections still busy after the drain timeout are closed.
 */
export const drain = fp(
  (fastify: FastifyInstance, { drainTimeoutMs }: { drainTimeoutMs: number }, done: (error?: Error) => void) => {
    let closing = false;
    fastify.addHook('preClose', (done) => {
      closing = true;
      const timer = setTimeout(() => {
        fastify.log.warn({ timeoutMs: drainTimeoutMs }, 'closing connections still open after the drain timeout');
        fastify.server.closeAllConnections();
      }, drainTimeoutMs);
      timer.unref();
      done();
    });
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (closing) reply.header('connection', 'close');
      done(null, payload);
    });
    done();
  },
  { name: 'drain' },
);
