import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { freePort } from './support/service-process';
import { LocalNginx, nginxAvailable, rawRequest, RawResponse, startLocalNginx } from './support/nginx';

// On Linux every 127.x.y.z is loopback: a request can come from a trusted proxy or from any
// other client by its local address alone.
const TRUSTED_PROXY = '127.0.0.2';
const OTHER_PEER = '127.0.0.3';
// One request a minute and a burst of 2: exactly 3 pass per client, whatever the test's speed.
const RATE = '1r/m';
const BURST = 2;
const PASSING = BURST + 1;

const describeWithNginx = nginxAvailable() ? describe : describe.skip;

describeWithNginx('nginx: the per-client limits key on the client, behind a trusted proxy too', () => {
  let upstream: Server;
  const seen: IncomingHttpHeaders[] = [];
  let nginx: LocalNginx;
  let nginxPort: number;

  beforeAll(async () => {
    // The limits are nginx's own: a stand-in replica that records what it is sent will do.
    upstream = createServer((request, response) => {
      seen.push(request.headers);
      request.resume();
      request.on('end', () => response.writeHead(200, { 'content-type': 'application/json' }).end('{"prediction":"setosa"}'));
    });
    const upstreamPort = await freePort();
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
    nginxPort = await freePort();
    nginx = await startLocalNginx({
      port: nginxPort,
      upstreams: [upstreamPort],
      rate: RATE,
      burst: BURST,
      trustedProxies: [`${TRUSTED_PROXY}/32`],
    });
  });

  afterAll(async () => {
    await nginx?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** `count` predictions in a row from `localAddress`, each with the X-Forwarded-For `forwardedFor(i)` gives. */
  async function burstFrom(localAddress: string, count: number, forwardedFor?: (i: number) => string): Promise<RawResponse[]> {
    const responses: RawResponse[] = [];
    for (let i = 0; i < count; i++) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (forwardedFor) headers['x-forwarded-for'] = forwardedFor(i);
      responses.push(await rawRequest(nginxPort, { method: 'POST', target: '/prediction', headers, body: '{}', localAddress }));
    }
    return responses;
  }

  const statuses = (responses: RawResponse[]) => responses.map((r) => r.status);
  const limited = (count: number) => [...Array<number>(PASSING).fill(200), ...Array<number>(count - PASSING).fill(429)];

  async function logLineOf(response: RawResponse): Promise<Record<string, unknown> | undefined> {
    const deadline = Date.now() + 2000;
    for (;;) {
      const line = nginx.accessLog().find((entry) => entry.request_id === response.headers['x-request-id']);
      if (line || Date.now() > deadline) return line;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('gives each client behind the trusted proxy a limit of its own', async () => {
    const first = await burstFrom(TRUSTED_PROXY, 5, () => '203.0.113.10');
    const second = await burstFrom(TRUSTED_PROXY, 5, () => '203.0.113.11');

    expect(statuses(first)).toEqual(limited(5));
    expect(statuses(second)).toEqual(limited(5));
    expect(await logLineOf(second[0])).toMatchObject({ remote_addr: '203.0.113.11', peer_addr: TRUSTED_PROXY });
  });

  it('keys on the last address the trusted proxy added, whatever the client put before it', async () => {
    const responses = await burstFrom(TRUSTED_PROXY, 5, (i) => `198.51.100.${i + 1}, 203.0.113.20`);

    expect(statuses(responses)).toEqual(limited(5));
    expect(await logLineOf(responses[0])).toMatchObject({ remote_addr: '203.0.113.20', peer_addr: TRUSTED_PROXY });
  });

  it('keys on the peer when it is not a trusted proxy, whatever X-Forwarded-For it sends', async () => {
    const responses = await burstFrom(OTHER_PEER, 5, (i) => `203.0.113.${30 + i}`);

    expect(statuses(responses)).toEqual(limited(5));
    expect(await logLineOf(responses[0])).toMatchObject({ remote_addr: OTHER_PEER, peer_addr: OTHER_PEER });
  });

  it('keys on the trusted proxy itself when it names no client', async () => {
    const responses = await burstFrom(TRUSTED_PROXY, 5);

    expect(statuses(responses)).toEqual(limited(5));
    expect(await logLineOf(responses[0])).toMatchObject({ remote_addr: TRUSTED_PROXY });
  });

  it('tells the replica the client in X-Real-IP, and the chain ending with the peer in X-Forwarded-For', async () => {
    seen.length = 0;

    await burstFrom(TRUSTED_PROXY, 1, () => '203.0.113.40');
    await burstFrom(OTHER_PEER.replace(/3$/, '4'), 1, () => '203.0.113.41');

    expect(seen.map((h) => [h['x-real-ip'], h['x-forwarded-for']])).toEqual([
      ['203.0.113.40', `203.0.113.40, ${TRUSTED_PROXY}`],
      ['127.0.0.4', '203.0.113.41, 127.0.0.4'],
    ]);
  });
});
