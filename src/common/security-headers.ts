import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * The security headers helmet sets, with a Content-Security-Policy under which Swagger UI at
 * /docs works. They depend on nothing in the request, so they are computed once, at start, by
 * running helmet against a stand-in response, and then set on every answer in one call:
 * running helmet's middleware on each request cost a fifth to a quarter of the throughput of
 * `POST /prediction` in the benchmark.
 */
export function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: unknown;
  helmet({
    contentSecurityPolicy: {
      directives: {
        // Swagger UI's scripts and styles are served from here; it styles inline.
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        // The service may be reached over plain HTTP (behind a proxy, or locally).
        upgradeInsecureRequests: null,
      },
    },
    // HSTS belongs to whoever terminates TLS (the proxy or ingress), not to this service.
    strictTransportSecurity: false,
  })({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => {
    failure = error;
  });
  if (failure) throw failure;
  return headers;
}
