import { AddressInfo, createServer, Server } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyListenOptions } from 'fastify';

/**
 * Sockets listening on the service's port. libuv accepts one connection per listening socket
 * and event-loop iteration (libuv 1.45, "unix: don't accept() connections in a loop"), and an
 * iteration of a saturated replica takes tens of milliseconds: 512 connections opened at once
 * waited up to 30 s to be accepted. With SO_REUSEPORT the kernel spreads new connections over
 * several sockets on one port, each accepting in the same iteration; the last connection waits
 * for as many iterations as its socket has connections queued. With 256 sockets, 512
 * connections opened at once were all accepted within 0.2 s of a saturated replica (16: 4 s,
 * 64: 1.3 s, 128: 1 s; bench/README.md, "New connections under saturation").
 */
export const LISTENING_SOCKETS = 256;

/**
 * Listens on `port` with LISTENING_SOCKETS sockets where Node can share a port between sockets
 * (`reusePort`, Node 22.12 and later), else with one: Node 20 ignores the option, and the second
 * socket's bind fails. Every socket hands its connections to the one HTTP server; all stop
 * accepting when the server starts closing, and it is closed once all their connections end.
 * Returns how many sockets listen.
 */
export async function listenOnSharedPort(app: NestFastifyApplication, port: number, host: string): Promise<number> {
  await failIfTaken(port, host);
  const httpServer = app.getHttpServer();
  const extra: Server[] = [];
  const fastify = app.getHttpAdapter().getInstance();
  // The HTTP server counts only the connections its own socket accepted: the drain must also
  // wait for those of the other sockets, which each close() reports once they have all ended.
  let drained: Promise<void>[] = [];
  fastify.addHook('preClose', (done) => {
    drained = extra.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    done();
  });
  fastify.addHook('onClose', async () => {
    await Promise.all(drained);
  });
  await app.listen({ port, host, reusePort: true } as FastifyListenOptions);
  const boundPort = (httpServer.address() as AddressInfo).port;
  for (let i = 1; i < LISTENING_SOCKETS; i++) {
    // The options http.createServer gives its own socket.
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => httpServer.emit('connection', socket));
    const listening = await new Promise<boolean>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' && i === 1 ? resolve(false) : reject(error)));
      server.listen({ port: boundPort, host, reusePort: true } as Parameters<Server['listen']>[0], () => resolve(true));
    });
    if (!listening) break;
    extra.push(server);
  }
  return extra.length + 1;
}

/**
 * Fails, as a plain listen does, when anything listens on the port already: a port shared with
 * SO_REUSEPORT would otherwise take in a second process of the same user without a word, and
 * split the connections between the two.
 */
async function failIfTaken(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port, host }, resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
}
