import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createTestApp } from './support/test-app';

type Operation = {
  responses: Record<string, { content?: Record<string, { example?: unknown; examples?: unknown }> }>;
  requestBody?: unknown;
};

const ROUTES: [string, string][] = [
  ['/', 'get'],
  ['/prediction', 'post'],
  ['/prediction', 'get'],
  ['/models/{name}/prediction', 'post'],
  ['/models/{name}/versions/{version}/prediction', 'post'],
  ['/models', 'get'],
  ['/models/{name}', 'get'],
  ['/models/{name}/versions/{version}', 'get'],
  ['/models/{name}/load', 'post'],
  ['/models/{name}/unload', 'post'],
  ['/models/{name}/reload', 'post'],
  ['/v2', 'get'],
  ['/v2/health/live', 'get'],
  ['/v2/health/ready', 'get'],
  ['/v2/models', 'get'],
  ['/v2/models/{name}', 'get'],
  ['/v2/models/{name}/versions/{version}', 'get'],
  ['/v2/models/{name}/ready', 'get'],
  ['/v2/models/{name}/versions/{version}/ready', 'get'],
  ['/v2/models/{name}/infer', 'post'],
  ['/v2/models/{name}/versions/{version}/infer', 'post'],
  ['/v2/repository/index', 'post'],
  ['/v2/repository/models/{name}/load', 'post'],
  ['/v2/repository/models/{name}/unload', 'post'],
  ['/v1/models/{name}', 'get'],
  ['/v1/models/{name}/versions/{version}', 'get'],
  ['/v1/models/{name}/metadata', 'get'],
  ['/v1/models/{name}/versions/{version}/metadata', 'get'],
  ['/v1/models/{call}', 'post'],
  ['/v1/models/{name}/versions/{call}', 'post'],
  ['/health/live', 'get'],
  ['/health/ready', 'get'],
  ['/health/startup', 'get'],
  ['/metrics', 'get'],
];

describe('OpenAPI document and Swagger UI (end to end)', () => {
  let app: NestFastifyApplication;
  let document: {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
  };

  beforeAll(async () => {
    app = await createTestApp();
    const response = await app.inject({ method: 'GET', url: '/docs-json' });
    expect(response.statusCode).toBe(200);
    document = response.json();
  });

  afterAll(() => app.close());

  it('lists every route of the service, and nothing else', () => {
    const listed = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m} ${path}`));

    expect(listed.sort()).toEqual(ROUTES.map(([path, method]) => `${method} ${path}`).sort());
  });

  it.each(ROUTES)('gives %s (%s) an example for every documented response', (path, method) => {
    const operation = document.paths[path][method];

    const statuses = Object.keys(operation.responses);
    // The root answers a redirect to the documentation, with no body to give an example of.
    if (path === '/') {
      expect(statuses).toEqual(['302']);
      return;
    }
    expect(statuses).toContain('200');
    for (const status of statuses) {
      const media = Object.values(operation.responses[status].content ?? {});
      const hasExample = media.some((content) => Boolean(content.example ?? content.examples));
      expect({ status, hasExample }).toEqual({ status, hasExample: true });
    }
  });

  it('documents every error status of POST /prediction', () => {
    const statuses = Object.keys(document.paths['/prediction'].post.responses);

    expect(statuses).toEqual(expect.arrayContaining(['400', '404', '413', '415', '429', '500', '503']));
  });

  it('documents the request body of POST /prediction from its DTO, with examples', () => {
    const schema = document.components.schemas.PredictionRequestDto;

    expect(Object.keys(schema.properties ?? {})).toEqual(['features', 'instances']);
    expect(JSON.stringify(document.paths['/prediction'].post.requestBody)).toContain('5.1');
  });

  it('derives the response schemas from the DTOs and their comments', () => {
    const error = document.components.schemas.ErrorResponseDto;

    expect(Object.keys(error.properties ?? {})).toEqual(['statusCode', 'error', 'message', 'details', 'requestId']);
    expect(JSON.stringify(error)).toContain('internal error');
  });

  it('serves Swagger UI at /docs', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('swagger-ui');
  });
});
