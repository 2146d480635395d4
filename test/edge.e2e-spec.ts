/**
 * The HTTP edge and the route facts it reads: 405 for a known path asked with another method,
 * the root pointing to the documentation, management routes answered only when spelled as
 * declared (dot segments are resolved by the injecting client: http-edge.process-spec.ts sends
 * them raw), Triton's repository index, and the names a Graph model's signature block uses.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { writeGraphModel, WrittenGraphModel } from './fixtures/model-builders';
import { createTestApp, SHIPPED_MODELS, waitUntilReady } from './support/test-app';

const ADMIN_TOKEN = 'edge-test-token-0123456789';
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
const SETOSA = [5.1, 3.5, 1.4, 0.2];

describe('the HTTP edge (end to end)', () => {
  let app: NestFastifyApplication;
  let repository: string;
  let graph: WrittenGraphModel;

  beforeAll(async () => {
    repository = await mkdtemp(join(tmpdir(), 'edge-'));
    await cp(join(SHIPPED_MODELS, 'iris'), join(repository, 'iris'), { recursive: true });
    graph = await writeGraphModel(join(repository, 'graph', '1'));
    app = await createTestApp({ env: { MODEL_REPOSITORY: repository, ADMIN_TOKEN, MODEL_POLL_INTERVAL_MS: '0', REQUIRED_MODELS: '*' } });
    await waitUntilReady(app);
  });

  afterAll(async () => {
    await app.close();
    await rm(repository, { recursive: true, force: true });
  });

  const irisState = async () => (await app.inject({ method: 'GET', url: '/models/iris' })).json().state as string;

  describe('methods', () => {
    it.each<[string, string, string, 'service' | 'protocol']>([
      ['GET', '/models/iris/prediction', 'POST', 'service'],
      ['PUT', '/prediction', 'GET, HEAD, POST', 'service'],
      ['DELETE', '/v2/models/iris', 'GET, HEAD', 'service'],
      ['GET', '/v2/models/iris/infer', 'POST', 'service'],
      ['POST', '/health/ready', 'GET, HEAD', 'service'],
    ])('answers %s %s with 405 and Allow: %s', async (method, url, allowed) => {
      const response = await app.inject({ method: method as 'GET', url });

      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe(allowed);
      expect(response.json()).toMatchObject({
        statusCode: 405,
        error: 'Method Not Allowed',
        message: `${method} is not allowed here; this path takes ${allowed}`,
      });
    });

    it('still answers 404 for a path no route has', async () => {
      const response = await app.inject({ method: 'GET', url: '/no/such/path' });

      expect(response.statusCode).toBe(404);
      expect(response.headers.allow).toBeUndefined();
    });
  });

  it('points the root to the documentation', async () => {
    const response = await app.inject({ method: 'GET', url: '/' });

    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toBe('/docs');
  });

  describe('management routes', () => {
    it.each([
      ['a trailing slash', '/models/iris/unload/'],
      ['a percent-encoded letter in the name', '/models/%69ris/unload'],
      ['a percent-encoded letter in the verb', '/models/iris/%75nload'],
      ['a doubled slash', '/models//iris/unload'],
      ['a leading doubled slash', '//models/iris/unload'],
      ['upper case', '/MODELS/iris/unload'],
      ['an encoded slash', '/models/iris%2Funload'],
      ['a V2 repository route with a trailing slash', '/v2/repository/models/iris/unload/'],
      ['a V2 repository route with an encoded letter', '/v2/repository/models/ir%69s/unload'],
    ])('refuses another spelling (%s) and leaves the model serving', async (_case, url) => {
      const response = await app.inject({ method: 'POST', url, headers: AUTH });

      // 405 where the spelling is the path of another route: /models/{name} with the name "iris/unload".
      expect([404, 405]).toContain(response.statusCode);
      expect(await irisState()).toBe('AVAILABLE');
    });

    it('answers the declared spelling, with a query string too', async () => {
      const unload = await app.inject({ method: 'POST', url: '/models/iris/unload?why=test', headers: AUTH });
      const stateAfterUnload = await irisState();
      const load = await app.inject({ method: 'POST', url: '/models/iris/load', headers: AUTH });

      expect([unload.statusCode, stateAfterUnload, load.statusCode, await irisState()]).toEqual([200, 'UNLOADED', 200, 'AVAILABLE']);
    });
  });

  describe("Triton's repository index", () => {
    it('lists every model version with its state, as Triton does', async () => {
      const response = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: {} });

      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual([
        { name: 'graph', version: '1', state: 'READY' },
        { name: 'iris', version: '1', state: 'READY' },
      ]);
    });

    it('takes an empty body, and a "ready" filter', async () => {
      const empty = await app.inject({ method: 'POST', url: '/v2/repository/index' });
      const ready = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: true } });

      expect(empty.statusCode).toBe(200);
      expect(ready.json()).toHaveLength(2);
    });

    it('refuses a "ready" that is not a boolean in the protocol\'s error shape', async () => {
      const response = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: { ready: 'yes' } });

      expect(response.statusCode).toBe(400);
      expect(Object.keys(response.json())).toEqual(['error']);
    });

    it('is listed among the extensions of GET /v2', async () => {
      expect((await app.inject({ method: 'GET', url: '/v2' })).json().extensions).toContain('model_repository');
    });
  });

  describe("a Graph model's names", () => {
    it('answers V2 inference on the input named as its signature block names it (x:0), and the output too', async () => {
      const input = { name: `${graph.inputName}:0`, shape: [1, 4], datatype: 'FP32', data: SETOSA };
      const byAlias = await app.inject({
        method: 'POST',
        url: '/v2/models/graph/infer',
        payload: { inputs: [input], outputs: [{ name: `${graph.outputName}:0` }] },
      });
      const byName = await app.inject({
        method: 'POST',
        url: '/v2/models/graph/infer',
        payload: { inputs: [{ ...input, name: graph.inputName }] },
      });

      expect(byAlias.statusCode).toBe(200);
      expect(byAlias.json().outputs[0].name).toBe(`${graph.outputName}:0`);
      expect(byAlias.json().outputs[0].data).toEqual(byName.json().outputs[0].data);
    });

    it('answers V1 row and columnar requests keyed by the signature block names', async () => {
      const rows = await app.inject({
        method: 'POST',
        url: '/v1/models/graph:predict',
        payload: { instances: [{ [`${graph.inputName}:0`]: SETOSA }] },
      });
      const columns = await app.inject({
        method: 'POST',
        url: '/v1/models/graph:predict',
        payload: { inputs: { [`${graph.inputName}:0`]: [SETOSA] } },
      });

      expect(rows.statusCode).toBe(200);
      expect(columns.statusCode).toBe(200);
      expect(columns.json().outputs).toEqual(rows.json().predictions);
    });
  });
});
