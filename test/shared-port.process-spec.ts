import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { LISTENING_SOCKETS } from '../src/http/shared-port';
import { ServiceProcess, startService, waitFor200 } from './support/service-process';

const START_TIMEOUT_MS = 30_000;
const CONNECTIONS = 400;

/** `reusePort` came with Node 22.12 (and 23.1); the service runs on the Node running this test. */
function runtimeSharesPorts(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

/** Sockets listening on `port` over IPv4, from the kernel's own table. */
function listeningSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const [, local, , state] = line.trim().split(/\s+/);
      return state === '0A' && local?.endsWith(`:${hexPort}`);
    }).length;
}

function get(agent: Agent, port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

const describeOnLinux = process.platform === 'linux' ? describe : describe.skip;

describeOnLinux(`the service's port, shared by ${LISTENING_SOCKETS} sockets where Node can (Node ${process.versions.node} here)`, () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({ LOG_LEVEL: 'info', SHUTDOWN_DELAY_MS: '0' });
    await waitFor200(`${service.baseUrl}/health/ready`, START_TIMEOUT_MS);
  }, START_TIMEOUT_MS + 5_000);

  afterAll(() => {
    if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  it('listens on every socket, or on one where the runtime cannot share a port', () => {
    const expected = runtimeSharesPorts() ? LISTENING_SOCKETS : 1;

    expect(listeningSockets(service.port)).toBe(expected);
    expect(service.output()).toContain(`(${expected} socket${expected > 1 ? 's' : ''})`);
  });

  it(`answers each of ${CONNECTIONS} connections opened at once`, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

    const statuses = await Promise.all(Array.from({ length: CONNECTIONS }, () => get(agent, service.port, '/health/live')));
    agent.destroy();

    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('refuses to start a second process on the same port', async () => {
    const second = await startService({ PORT: String(service.port) });

    expect(await second.exited).toBe(1);
    expect(second.output()).toContain('EADDRINUSE');
  });

  it('stops listening on every socket once it starts closing, answers what it holds, and exits 0', async () => {
    const body = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });
    let finish = () => {};
    const held = new Promise<number>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: service.port,
          method: 'POST',
          path: '/prediction',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.write(body.slice(0, 10));
      finish = () => req.end(body.slice(10));
    });
    await new Promise((resolve) => setTimeout(resolve, 200));

    service.child.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    while (listeningSockets(service.port) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const listeningWhileClosing = listeningSockets(service.port);
    const aliveWhileClosing = service.child.exitCode === null;
    finish();

    expect(listeningWhileClosing).toBe(0);
    expect(aliveWhileClosing).toBe(true);
    expect(await held).toBe(200);
    expect(await service.exited).toBe(0);
  });

  it(
    'leaves the port free for the next process',
    async () => {
      const next = await startService({ PORT: String(service.port) });
      await waitFor200(`${next.baseUrl}/health/live`, START_TIMEOUT_MS);

      next.child.kill('SIGTERM');

      expect(await next.exited).toBe(0);
    },
    START_TIMEOUT_MS,
  );
});
