'use strict';
// How the benchmarks start the service and read processes and ports on this machine (Linux: /proc).
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { createServer } = require('node:net');

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** Node's flags for the service: those of `npm run start:prod` (the Dockerfile's command). */
const SERVICE_FLAGS = require('../package.json').scripts['start:prod'].split(/\s+/).slice(1, -1);

/** The one of them that keeps V8's optimized code through a pause in traffic (bench/README.md, run 13). */
const KEEP_CODE_FLAG = '--no-memory-reducer-favors-memory';

/** A loopback port free now. */
function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `url` until it answers 200, every `intervalMs`; fails once `timeoutMs` has passed, or as
 * soon as `child` (the process meant to answer, when given) has exited.
 */
async function waitReady(url, { child, timeoutMs = 60_000, intervalMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${url}: the process exited with code ${child.exitCode}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A process's resident memory now, in MiB. */
function residentMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** CPU seconds a process has used (user and system, all its threads); 0 once it is gone. */
function processCpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

module.exports = { CLOCK_TICKS, SERVICE_FLAGS, KEEP_CODE_FLAG, freePort, waitReady, residentMiB, processCpuSeconds };
