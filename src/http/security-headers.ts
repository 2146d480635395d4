import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from 'helmet';

/**
 * The security headers of the API's answers (JSON, or binary tensor data), as OWASP's REST
 * Security Cheat Sheet lists them: nothing may sniff, frame or load anything from a response
 * opened in a browser. The headers that govern what an HTML page may do are sent with the
 * pages (documentSecurityHeaders); on every API answer they would only cost bytes (about 700
 * per answer, some 5% of the throughput of `POST /prediction` behind nginx).
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The security headers helmet sets for HTML pages, with a Content-Security-Policy under which
 * Swagger UI at /docs works. They depend on nothing in the request, so they are computed once,
 * at start, by running helmet against a stand-in response, and then set in one call: running
 * helmet's middleware on each request cost a fifth to a quarter of the throughput of
 * `POST /prediction` in the benchmark.
 */
export function documentSecurityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  let failure: Error | undefined;
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
    if (error) failure = error instanceof Error ? error : new Error('helmet could not make the security headers');
  });
  if (failure) throw failure;
  return headers;
}
