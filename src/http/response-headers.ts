import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Draining } from './drain';
import { REQUEST_ID_HEADER } from './request-id';
import { routeFacts } from './route-facts';
import { API_SECURITY_HEADERS, documentSecurityHeaders } from './security-headers';

/**
 * Headers on every answer, errors included: the request id, the security headers of an API
 * answer (or of an HTML page, for the documentation's pages and assets), and, once the server
 * is draining, `Connection: close`. One hook sets them all: each hook costs on every request.
 */
export const responseHeaders = fp(
  (fastify: FastifyInstance, { docsPath, draining }: { docsPath: string; draining: Draining }, done: (error?: Error) => void) => {
    const documentHeaders = documentSecurityHeaders();
    const docsPrefix = `/${docsPath}`;
    fastify.addHook('onSend', (request, reply, payload, done) => {
      reply.headers(routeFacts(request).url?.startsWith(docsPrefix) ? documentHeaders : API_SECURITY_HEADERS);
      reply.header(REQUEST_ID_HEADER, request.id);
      if (draining.closing) reply.header('connection', 'close');
      done(null, payload);
    });
    done();
  },
  { name: 'response-headers' },
);
