import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** Whether the server is closing: set by `drain`, read where the answers' headers are set (`response-headers.ts`). */
export class Draining {
  closing = false;
}

/**
 * Once the server is closing, each answer asks the client to close its connection (the
 * response headers add `Connection: close` while `draining.closing`), so that keep-alive
 * clients (a proxy's upstream pool) let the process exit once it has answered; connections
 * still busy after the drain timeout are closed.
 */
export const drain = fp(
  (
    fastify: FastifyInstance,
    { draining, drainTimeoutMs }: { draining: Draining; drainTimeoutMs: number },
    done: (error?: Error) => void,
  ) => {
    fastify.addHook('preClose', (done) => {
      draining.closing = true;
      const timer = setTimeout(() => {
        fastify.log.warn({ timeoutMs: drainTimeoutMs }, 'closing connections still open after the drain timeout');
        fastify.server.closeAllConnections();
      }, drainTimeoutMs);
      timer.unref();
      done();
    });
    done();
  },
  { name: 'drain' },
);
