import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestApp, waitUntilReady } from './support/test-app';

const APP_ORIGIN = 'https://app.example.com';
const OTHER_ORIGIN = 'https://elsewhere.example.net';
const ROW = { features: [5.1, 3.5, 1.4, 0.2] };

/** On every answer of the API, errors and the protocols' routes included. */
const API_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};
/** On the documentation's HTML pages and assets: what a page may do. */
const DOCUMENT_HEADERS = {
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
      ['the metrics', 'GET', '/metrics', undefined],
    ])("sends the API's security headers, and none of an HTML page's, on %s", async (_case, method, url, payload) => {
      const response = await app.inject({ method: method as 'GET' | 'POST', url, ...(payload ? { payload } : {}) });

      expect(response.headers).toMatchObject(API_HEADERS);
      expect(response.headers['cross-origin-opener-policy']).toBeUndefined();
      expect(response.headers['x-xss-protection']).toBeUndefined();
    });

    it.each(['/docs', '/docs/', '/docs/swagger-ui.css', '/docs-json'])("sends an HTML page's security headers on %s", async (url) => {
      const response = await app.inject({ method: 'GET', url });

      expect(response.statusCode).toBeLessThan(400);
      expect(response.headers).toMatchObject(DOCUMENT_HEADERS);
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
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

describe('body limits per route (end to end)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await createTestApp({ env: { ADMIN_TOKEN: 'a-test-admin-token-0123456789' } });
    await waitUntilReady(app);
  });

  afterAll(() => app.close());

  it('takes at most 16 KiB on the model management routes', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/models/iris/reload',
      headers: { authorization: 'Bearer a-test-admin-token-0123456789', 'content-type': 'application/json' },
      payload: JSON.stringify({ padding: 'x'.repeat(20_000) }),
    });

    expect(response.statusCode).toBe(413);
    expect(response.json().message).toBe('request body is larger than the limit of 16384 bytes');
  });

  it.each([
    ['/prediction', { instances: Array.from({ length: 990 }, () => [5.15, 3.55, 1.45, 0.25]) }],
    ['/v1/models/iris:predict', { instances: Array.from({ length: 990 }, () => [5.15, 3.55, 1.45, 0.25]) }],
    [
      '/v2/models/iris/infer',
      { inputs: [{ name: 'standardize_input', shape: [990, 4], datatype: 'FP32', data: Array.from({ length: 3960 }, () => 1.25) }] },
    ],
  ])('takes bodies past 16 KiB on %s', async (url, body) => {
    const payload = JSON.stringify(body);
    expect(payload.length).toBeGreaterThan(16 * 1024);

    const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });

    expect(response.statusCode).toBe(200);
  });
});
