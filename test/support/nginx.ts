import { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The renderer is plain JavaScript, shared with the benchmark.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const renderer = require('../../nginx/render-local.js') as {
  renderLocalConfig(options: { dir: string; port: number; upstreams: number[]; rate?: string; burst?: number | false }): string;
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

export interface LocalNginx {
  url: string;
  /** The JSON access log lines so far. */
  accessLog(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Runs the repository's nginx.conf, rendered with loopback upstreams, on `port`. */
export async function startLocalNginx(options: { port: number; upstreams: number[]; rate?: string; burst?: number | false }): Promise<LocalNginx> {
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
  return {
    url,
    accessLog: () =>
      readLog(join(dir, 'access.log'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
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
