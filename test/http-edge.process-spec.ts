import { connect, Socket } from 'node:net';
import { startService, ServiceProcess, waitFor200 } from './support/service-process';

const START_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 1_500;
const DRAIN_TIMEOUT_MS = 1_000;
const ADMIN_TOKEN = 'raw-socket-token-0123456789';

/** Sends raw bytes on a new connection and collects everything the server answers. */
function exchange(port: number, bytes: string, closeAfterMs?: number): { socket: Socket; answer: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  socket.write(bytes);
  if (closeAfterMs !== undefined) setTimeout(() => socket.destroy(), closeAfterMs);
  return { socket, answer };
}

function parse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head, body] = raw.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('the HTTP edge of the built service (raw sockets)', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({
      HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      SHUTDOWN_DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS),
      ADMIN_TOKEN,
    });
    await waitFor200(`${service.baseUrl}/health/ready`, START_TIMEOUT_MS);
  }, START_TIMEOUT_MS + 5_000);

  afterAll(() => {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  it('answers a request Node cannot parse with 400 in the error shape, with a request id', async () => {
    const raw = await exchange(service.port, 'FOO /prediction HTTP/1.1\r\nHost: x\r\n\r\n').answer;

    const { status, headers, body } = parse(raw);
    expect(status).toBe(400);
    expect(JSON.parse(body)).toEqual({
      statusCode: 400,
      error: 'Bad Request',
      message: 'the request is not valid HTTP',
      requestId: headers['x-request-id'],
    });
  });

  it('answers headers over the limit with 431', async () => {
    const raw = await exchange(service.port, `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`).answer;

    expect(parse(raw).status).toBe(431);
  });

  it('cuts off a request whose body stalls, with 408, after HTTP_REQUEST_TIMEOUT_MS', async () => {
    const started = Date.now();
    const raw = await exchange(
      service.port,
      'POST /prediction HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"features": [',
    ).answer;

    expect(parse(raw).status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
  });

  // Sent as written, on a socket: an HTTP client library would resolve the dot segments first.
  it.each([
    '/models/./iris/unload',
    '/models/iris/./unload',
    '/models/x/../iris/unload',
    '/models/iris/unload/.',
    '/./models/iris/unload',
    '/models/iris/unload/',
    '/models/iris/unload//',
    '/models//iris/unload',
    '/models/%69ris/unload',
    '/models/iris/unl%6fad',
    '/models/iris/%2E/unload',
    '/v2/repository/models/./iris/unload',
    '/v2/repository/models/iris/unload/',
    '/v2/repository//models/iris/unload',
  ])('refuses POST %s with a valid token without unloading the model', async (path) => {
    const raw = await exchange(
      service.port,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nConnection: close\r\n\r\n`,
    ).answer;

    expect([404, 405]).toContain(parse(raw).status);
    const model = (await (await fetch(`${service.baseUrl}/models/iris`)).json()) as { state: string };
    expect(model.state).toBe('AVAILABLE');
  });

  it('exits 0 on SIGTERM even while a client holds a request open, within the drain timeout', async () => {
    const stalled = exchange(
      service.port,
      'POST /prediction HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"features": [',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));

    const signalled = Date.now();
    service.child.kill('SIGTERM');
    const code = await service.exited;
    stalled.socket.destroy();

    expect(code).toBe(0);
    // Whichever ends it first, the drain timeout or the request timeout, it ends.
    expect(Date.now() - signalled).toBeLessThan(REQUEST_TIMEOUT_MS + DRAIN_TIMEOUT_MS + 2_000);
  });
});
