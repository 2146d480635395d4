import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RouteNotFoundError } from '../common/request-errors';
import { answerError } from './edge-answers';
import { routeFacts } from './route-facts';

/**
 * Management routes are answered only when their path is spelled exactly as declared: no
 * trailing slash, no percent-encoding, nothing the router forgives. A proxy in front that
 * blocks them by path then cannot be talked past by another spelling of the same route, and
 * a mistake in its configuration is not enough on its own. Other spellings get 404.
 */
export const canonicalManagementPaths = fp(
  (fastify: FastifyInstance, _options: object, done: (error?: Error) => void) => {
    fastify.addHook('onRequest', (request, reply, next) => {
      const route = routeFacts(request);
      if (!route.management) return next();
      const path = request.url.split('?', 1)[0];
      const params = request.params as Record<string, string>;
      const canonical = (route.url ?? '').replace(/:(\w+)/g, (_match, name: string) => params[name] ?? '');
      if (path === canonical) return next();
      answerError(request, reply, new RouteNotFoundError(`Cannot ${request.method} ${path.slice(0, 200)}`));
    });
    done();
  },
  { name: 'canonical-management-paths' },
);
