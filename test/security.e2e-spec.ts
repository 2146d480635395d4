import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestApp, waitUntilReady } from './support/test-app';

const APP_ORIGIN = 'https://app.example.com';
const OTHER_ORIGIN = 'https://elsewhere.example.net';
const ROW = { features: [5.1, 3.5, 1.4, 0.2] };

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'SAMEORIGIN',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

describe('security headers and CORS (end to end)', () => {
  describe('by default', () => {
    let app: NestFastifyApplication;

    beforeAll(async () => {
      app = await createTestApp({ env: { CORS_ORIGINS: '' } });
    });

    afterAll(() => app.close());

    it.each([
      ['a prediction', 'POST', '/prediction', ROW],
      ['a client error', 'POST', '/prediction', { features: 'x' }],
      ['an unknown route', 'GET', '/nothing', undefined],
      ['a V2 route', 'GET', '/v2', undefined],
      ['the docs', 'GET', '/docs', undefined],
    ])('sends the security headers on %s', async (_case, method, url, payload) => {
      const response = await app.inject({ method: method as 'GET' | 'POST', url, ...(payload ? { payload } : {}) });

      expect(response.headers).toMatchObject(SECURITY_HEADERS);
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('upgrade-insecure-requests');
    });

    it('allows no cross-origin browser request', async () => {
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/prediction',
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' },
      });
      const simple = await app.inject({ method: 'POST', url: '/prediction', headers: { origin: APP_ORIGIN }, payload: ROW });

      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      expect(simple.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe(`with CORS_ORIGINS=${APP_ORIGIN}`, () => {
    let app: NestFastifyApplication;

    beforeAll(async () => {
      app = await createTestApp({ env: { CORS_ORIGINS: APP_ORIGIN } });
      await waitUntilReady(app);
    });

    afterAll(() => app.close());

    it('answers a preflight from that origin', async () => {
      const preflight = await app.inject({
        method: 'OPTIONS',
        url: '/prediction',
        headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });

      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe(APP_ORIGIN);
      expect(String(preflight.headers['access-control-allow-methods'])).toContain('POST');
    });

    it('allows no other origin', async () => {
      const response = await app.inject({ method: 'POST', url: '/prediction', headers: { origin: OTHER_ORIGIN }, payload: ROW });

      expect(response.statusCode).toBe(200);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    });
  });
});
