import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { MethodNotAllowedError } from '../common/request-errors';
import { answerError } from './edge-answers';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/**
 * 405 with `Allow` for a path that has routes, but none for the request's method (RFC 9110
 * §15.5.6); 404 stays for paths no route has.
 */
export const methodNotAllowed = fp(
  (fastify: FastifyInstance, _options: object, done: (error?: Error) => void) => {
    fastify.addHook('onRequest', (request, reply, next) => {
      if (!request.is404) return next();
      const path = request.url.split('?', 1)[0];
      const allowed = METHODS.filter((method) => method !== request.method && fastify.findRoute({ method, url: path }) !== null);
      if (allowed.length === 0) return next();
      answerError(request, reply, new MethodNotAllowedError(request.method, allowed));
    });
    done();
  },
  { name: 'method-not-allowed' },
);
