import { freePort, ServiceProcess, startService, waitFor200 } from './support/service-process';
import { LocalNginx, nginxAvailable, rawRequest, RawResponse, startLocalNginx } from './support/nginx';

const START_TIMEOUT_MS = 30_000;
// Management is on at the replicas, so any attempt that got through would really change a model.
const ADMIN_TOKEN = 'nginx-routes-spec-admin-token';
const AUTHORIZED = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const IRIS_ROW = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });
const V2_ROW = JSON.stringify({ inputs: [{ name: 'standardize_input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
const V1_ROW = JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] });
const NOT_PUBLIC = 'this route is not served through the proxy';

/** Routes that must never be reachable through the proxy, in their canonical spelling. */
const PRIVATE_ROUTES = [
  { method: 'POST', path: '/models/iris/load' },
  { method: 'POST', path: '/models/iris/unload' },
  { method: 'POST', path: '/models/iris/reload' },
  { method: 'POST', path: '/v2/repository/index' },
  { method: 'POST', path: '/v2/repository/models/iris/load' },
  { method: 'POST', path: '/v2/repository/models/iris/unload' },
  { method: 'GET', path: '/metrics' },
];

const percent = (char: string, lower = false) => {
  const hex = char.charCodeAt(0).toString(16).padStart(2, '0');
  return `%${lower ? hex : hex.toUpperCase()}`;
};

/**
 * Other spellings of `path` that a server (nginx, which decodes and merges before matching, or
 * the service's router, which decodes and ignores a trailing slash) could take for the same
 * route: every character percent-encoded in turn, "." and ".." segments, doubled slashes, a
 * trailing slash, other letter cases, query strings and fragments, the absolute form.
 */
function spellings(path: string): string[] {
  const segments = path.split('/').slice(1);
  const at = (i: number, insert: string) => `/${segments.slice(0, i).join('/')}${i > 0 ? '/' : ''}${insert}${segments.slice(i).join('/')}`;
  const variants = new Set<string>([
    path,
    `${path}/`,
    `${path}//`,
    `/${path}`,
    `${path}/.`,
    `${path}/..`,
    `${path}/./`,
    `/./${path.slice(1)}`,
    `/prediction/..${path}`,
    `/health/live/..${path}`,
  ]);
  for (let i = 1; i < segments.length; i++) {
    variants.add(at(i, '/'));
    variants.add(at(i, './'));
    variants.add(at(i, 'x/../'));
    variants.add(at(i, '%2e/'));
    variants.add(at(i, 'x/%2e%2e/'));
  }
  for (let i = 1; i < path.length; i++) {
    const char = path[i];
    variants.add(`${path.slice(0, i)}${percent(char)}${path.slice(i + 1)}`);
    if (/[a-z]/.test(percent(char, true))) variants.add(`${path.slice(0, i)}${percent(char, true)}${path.slice(i + 1)}`);
  }
  variants.add(`${path.slice(0, 2)}%25${percent(path[2]).slice(1)}${path.slice(3)}`);
  variants.add(path.toUpperCase());
  variants.add(segments.map((s) => `/${s[0].toUpperCase()}${s.slice(1)}`).join(''));
  variants.add(`${path.slice(0, path.lastIndexOf('/'))}/${segments[segments.length - 1].toUpperCase()}`);
  for (const suffix of ['?', '?x=1', '?/../../prediction', '#x', ';x', '%3Fx', '%23x', '%00', '/%2e%2e', '%2F'])
    variants.add(`${path}${suffix}`);
  variants.add(`${path.slice(0, path.lastIndexOf('/'))}\\${segments[segments.length - 1]}`);
  variants.add(`http://127.0.0.1${path}`);
  return [...variants];
}

const describeWithNginx = nginxAvailable() ? describe : describe.skip;

describeWithNginx("nginx: only the public routes reach a replica (the repository's nginx.conf, loopback upstreams)", () => {
  const replicas: ServiceProcess[] = [];
  let nginx: LocalNginx;

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) replicas.push(await startService({ ADMIN_TOKEN, LOG_LEVEL: 'warn' }));
    await Promise.all(replicas.map((r) => waitFor200(`${r.baseUrl}/health/ready`, START_TIMEOUT_MS)));
    nginx = await startLocalNginx({ port: await freePort(), upstreams: replicas.map((r) => r.port), burst: false });
  }, START_TIMEOUT_MS * 2);

  afterAll(async () => {
    await nginx?.stop();
    for (const replica of replicas) if (replica.child.exitCode === null) replica.child.kill('SIGKILL');
  });

  /**
   * The access log's line for an answer, found by its request id. nginx writes it once the
   * connection is done with, which can be just after the client has read the answer.
   */
  async function logLineOf(response: RawResponse): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + 2000;
    for (;;) {
      const line = nginx.accessLog().find((entry) => entry.request_id === response.headers['x-request-id']);
      if (line || Date.now() > deadline) return line;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const modelStates = () => Promise.all(replicas.map(async (r) => (await fetch(`${r.baseUrl}/models/iris`)).json()));

  describe('public routes pass, answered by a replica as it answers them directly', () => {
    const PUBLIC: { method: string; target: string; body?: string; status?: number }[] = [
      { method: 'GET', target: '/' },
      { method: 'POST', target: '/prediction', body: IRIS_ROW, status: 200 },
      { method: 'GET', target: '/prediction?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2', status: 200 },
      { method: 'GET', target: '/models', status: 200 },
      { method: 'GET', target: '/models/iris', status: 200 },
      { method: 'GET', target: '/models/iris/versions/1', status: 200 },
      { method: 'POST', target: '/models/iris/prediction', body: IRIS_ROW, status: 200 },
      { method: 'POST', target: '/models/iris/versions/1/prediction', body: IRIS_ROW, status: 200 },
      { method: 'GET', target: '/v2', status: 200 },
      { method: 'GET', target: '/v2/health/live', status: 200 },
      { method: 'GET', target: '/v2/health/ready', status: 200 },
      { method: 'GET', target: '/v2/models/iris', status: 200 },
      { method: 'GET', target: '/v2/models/iris/ready', status: 200 },
      { method: 'GET', target: '/v2/models/iris/versions/1', status: 200 },
      { method: 'GET', target: '/v2/models/iris/versions/1/ready', status: 200 },
      { method: 'POST', target: '/v2/models/iris/infer', body: V2_ROW, status: 200 },
      { method: 'POST', target: '/v2/models/iris/versions/1/infer', body: V2_ROW, status: 200 },
      { method: 'GET', target: '/v1/models/iris', status: 200 },
      { method: 'GET', target: '/v1/models/iris/metadata', status: 200 },
      { method: 'GET', target: '/v1/models/iris/versions/1', status: 200 },
      { method: 'GET', target: '/v1/models/iris/versions/1/metadata', status: 200 },
      { method: 'POST', target: '/v1/models/iris:predict', body: V1_ROW, status: 200 },
      { method: 'POST', target: '/v1/models/iris/versions/1:predict', body: V1_ROW, status: 200 },
      {
        method: 'POST',
        target: '/v1/models/iris:classify',
        body: JSON.stringify({ examples: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }] }),
        status: 200,
      },
      { method: 'GET', target: '/health/live', status: 200 },
      { method: 'GET', target: '/health/ready', status: 200 },
      { method: 'GET', target: '/health/startup', status: 200 },
      { method: 'GET', target: '/docs', status: 200 },
      { method: 'GET', target: '/docs/', status: 200 },
      { method: 'GET', target: '/docs/swagger-ui-init.js', status: 200 },
      { method: 'GET', target: '/docs/swagger-ui.css', status: 200 },
      { method: 'GET', target: '/docs/swagger-ui-bundle.js', status: 200 },
      { method: 'GET', target: '/docs-json', status: 200 },
      // A public route with a bad request still reaches the service, which says what is wrong.
      { method: 'POST', target: '/v2/models/nosuchmodel/infer', body: V2_ROW, status: 404 },
      { method: 'POST', target: '/prediction', body: '{"features":[1,2]}', status: 400 },
    ];

    it.each(PUBLIC)('$method $target', async ({ method, target, body, status }) => {
      const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
      const request = { method, target, body, headers };

      const direct = await rawRequest(replicas[0].port, request);
      const proxied = await rawRequest(Number(new URL(nginx.url).port), request);

      if (status !== undefined) expect(direct.status).toBe(status);
      expect(proxied.status).toBe(direct.status);
      expect(proxied.headers['content-type']).toBe(direct.headers['content-type']);
      expect(String((await logLineOf(proxied))?.upstream)).toMatch(/^127\.0\.0\.1:\d+$/);
    });
  });

  describe('management routes and /metrics are refused by nginx in every spelling', () => {
    let statesBefore: unknown[];

    beforeAll(async () => {
      statesBefore = await modelStates();
    });

    const attempts = PRIVATE_ROUTES.flatMap(({ method, path }) => spellings(path).map((target) => ({ method, target })));
    attempts.push(
      { method: 'post', target: '/models/iris/unload' },
      { method: 'PUT', target: '/models/iris/unload' },
      { method: 'GET', target: '/models/iris/unload' },
    );

    it.each(attempts)('$method $target', async ({ method, target }) => {
      const response = await rawRequest(Number(new URL(nginx.url).port), { method, target, headers: AUTHORIZED, body: '{}' });

      expect([400, 404]).toContain(response.status);
      expect(response.headers['content-type']).toBe('application/json');
      // Answered by nginx: no replica was asked.
      const line = await logLineOf(response);
      expect(line).toBeDefined();
      expect(line?.upstream).toBe('');
    });

    it('left every model as it was, and no management request reached a replica', async () => {
      expect(await modelStates()).toEqual(statesBefore);
      for (const replica of replicas) {
        const metrics = await (await fetch(`${replica.baseUrl}/metrics`)).text();
        expect(metrics).not.toMatch(/http_requests_total\{route="[^"]*(load|unload|reload|repository)[^"]*"/);
      }
    });

    it("answers in the service's error shape for the path, with a request id", async () => {
      const port = Number(new URL(nginx.url).port);

      const own = await rawRequest(port, { method: 'POST', target: '/models/iris/unload', headers: AUTHORIZED });
      const protocol = await rawRequest(port, { method: 'POST', target: '/v2/repository/index', headers: AUTHORIZED });

      expect(JSON.parse(own.body)).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: NOT_PUBLIC,
        requestId: own.headers['x-request-id'],
      });
      expect(JSON.parse(protocol.body)).toEqual({ error: NOT_PUBLIC });
      expect(own.headers['x-content-type-options']).toBe('nosniff');
    });

    // The attempts above would have been seen: the same token, straight at a replica, works.
    it('a replica itself takes the management request nginx refused', async () => {
      const direct = await rawRequest(replicas[0].port, { method: 'POST', target: '/models/iris/reload', headers: AUTHORIZED, body: '{}' });
      const metrics = await rawRequest(replicas[0].port, { method: 'GET', target: '/metrics' });

      expect(direct.status).toBe(200);
      expect(metrics.status).toBe(200);
      expect((await modelStates())[0]).not.toEqual(statesBefore[0]);
    });
  });
});
