import { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The renderer is plain JavaScript, shared with the benchmark.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const renderer = require('../../nginx/render-local.js') as {
  renderLocalConfig(options: LocalNginxOptions & { dir: string }): string;
  startNginx(configPath: string, dir: string): ChildProcess;
  nginxBinary(): string | null;
};

/**
 * Whether tests that need nginx run: they skip (with a message) where nginx is not installed,
 * except under CI, where a missing nginx is a failure.
 */
export function nginxAvailable(): boolean {
  if (renderer.nginxBinary()) return true;
  if (process.env.CI === 'true') throw new Error('nginx is not installed, and CI must run the nginx tests (.ci/run installs it)');
  process.stderr.write('nginx is not installed: skipping the nginx integration tests (apt-get install nginx to run them)\n');
  return false;
}

export interface LocalNginxOptions {
  port: number;
  /** Loopback ports of the replicas. */
  upstreams: number[];
  /** Per-client rate, e.g. "5r/s"; the deployed one if unset. */
  rate?: string;
  /** Per-client burst; false lifts the per-client limits (for load from one address). */
  burst?: number | false;
  /** Addresses or ranges whose X-Forwarded-For nginx believes (none by default, as deployed). */
  trustedProxies?: string[];
}

export interface LocalNginx {
  url: string;
  /** The JSON access log lines so far. */
  accessLog(): Record<string, unknown>[];
  /** The error log so far (warnings included: nginx logs there when it skips a replica). */
  errorLog(): string;
  stop(): Promise<void>;
}

/** Runs the repository's nginx.conf, rendered with loopback upstreams, on `port`. */
export async function startLocalNginx(options: LocalNginxOptions): Promise<LocalNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'nginx-'));
  const config = renderer.renderLocalConfig({ dir, ...options });
  const child = renderer.startNginx(config, dir);
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(`${url}/nginx-is-up`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`nginx did not start: ${readLog(join(dir, 'error.log'))}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  // nginx answers that probe itself and logs it once the connection is done with: wait for its
  // line, so that a test counting log lines from now on does not count it.
  while (!readLog(join(dir, 'access.log')).includes('/nginx-is-up') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url,
    accessLog: () =>
      readLog(join(dir, 'access.log'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    errorLog: () => readLog(join(dir, 'error.log')),
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one request exactly as written, request target included (Node's client and fetch
 * normalise some spellings), on a connection of its own, optionally from a given local address
 * (any 127.x.y.z is loopback on Linux: a stand-in for another client or proxy).
 */
export function rawRequest(
  port: number,
  {
    method,
    target,
    headers = {},
    body = '',
    localAddress,
  }: { method: string; target: string; headers?: Record<string, string>; body?: string; localAddress?: string },
): Promise<RawResponse> {
  const head = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.end();
      resolve(parseResponse(Buffer.concat(chunks)));
    });
    // Written, not ended: nginx takes a client that half-closes for one that went away.
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  });
}

function parseResponse(raw: Buffer): RawResponse {
  const headEnd = raw.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let payload = raw.subarray(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = payload.indexOf('\r\n');
      const size = parseInt(payload.subarray(0, lineEnd).toString('latin1'), 16);
      if (!(size > 0)) break;
      parts.push(payload.subarray(lineEnd + 2, lineEnd + 2 + size));
      payload = payload.subarray(lineEnd + 2 + size + 2);
    }
    payload = Buffer.concat(parts);
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: payload.toString('utf8') };
}
