#!/usr/bin/env node
// How a replica serves when traffic comes back after a pause: `npm run bench:after-idle`.
// Starts the built service on the shipped models, loads `POST /prediction` (iris) with wrk at
// 64 connections for LOAD seconds, measures the last WINDOW seconds of it, leaves the replica
// idle for IDLE seconds, then measures the first WINDOW seconds of load again. Twice per round:
// with Node's flags from `npm run start:prod`, and with those flags less
// --no-memory-reducer-favors-memory (V8's default), whose idle-time collections throw away the
// optimized code of every function that last ran on objects now gone, so that the first
// seconds back run on the interpreter and on the compiler's threads.
//
// Knobs (environment): ROUNDS (2), LOAD (20 s), IDLE (15 s; V8's memory reducer starts after 8 s
// of low allocation), WINDOW (3 s), CONNS (64).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { KEEP_CODE_FLAG, SERVICE_FLAGS, freePort, processCpuSeconds, residentMiB, waitReady } = require('./proc.js');
const { luaPost, wrk } = require('./wrk.js');

const ROUNDS = Number(process.env.ROUNDS ?? 2);
const LOAD = Number(process.env.LOAD ?? 20);
const IDLE = Number(process.env.IDLE ?? 15);
const WINDOW = Number(process.env.WINDOW ?? 3);
const CONNS = Number(process.env.CONNS ?? 64);
const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const BODY = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });

const VARIANTS = [
  { name: 'start:prod flags', flags: SERVICE_FLAGS },
  { name: `without ${KEEP_CODE_FLAG}`, flags: SERVICE_FLAGS.filter((f) => f !== KEEP_CODE_FLAG) },
];

/** One window of load, with the replica's CPU per request over it. */
function measure(child, url, script) {
  const cpu = processCpuSeconds(child.pid);
  const result = wrk(url, script, CONNS, WINDOW);
  return { ...result, errors: result.non2xx + result.errors, cpuUs: ((processCpuSeconds(child.pid) - cpu) * 1e6) / result.requests };
}

async function once(variant, script) {
  const port = await freePort();
  const child = spawn(process.execPath, [...variant.flags, MAIN], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', MODEL_POLL_INTERVAL_MS: '0' },
    stdio: 'ignore',
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/health/ready`, { child });
    const url = `${base}/prediction`;
    wrk(url, script, CONNS, LOAD - WINDOW);
    const before = measure(child, url, script);
    await new Promise((resolve) => setTimeout(resolve, IDLE * 1000));
    const rssIdle = residentMiB(child.pid);
    const after = measure(child, url, script);
    return { before, after, rssIdle };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function missing(tool) {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
}

async function main() {
  if (missing('wrk')) throw new Error('wrk is missing (apt-get install wrk)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-after-idle-'));
  const script = luaPost(dir, 'iris', '/prediction', BODY);
  const runs = new Map(VARIANTS.map((v) => [v.name, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Each round runs the two variants in the other order.
      for (const variant of round % 2 ? [...VARIANTS].reverse() : VARIANTS) {
        const run = await once(variant, script);
        runs.get(variant.name).push(run);
        console.error(
          `round ${round + 1}, ${variant.name}: ${run.before.rps.toFixed(0)} req/s before the pause, ${run.after.rps.toFixed(0)} after`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.version}, ${ROUNDS} rounds: ` +
      `${LOAD} s of load at ${CONNS} connections, ${IDLE} s idle, ${WINDOW} s windows (medians over the rounds)\n`,
  );
  console.log(
    '| flags | req/s before | req/s after | after / before | p99 ms before | p99 ms after | CPU µs per request before | after | errors | RSS MiB at the end of the pause |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const variant of VARIANTS) {
    const r = runs.get(variant.name);
    const m = (pick) => median(r.map(pick));
    const flags = variant.flags.join(' ');
    console.log(
      `| ${variant.name} (\`${flags}\`) | ${m((x) => x.before.rps).toFixed(0)} | ${m((x) => x.after.rps).toFixed(0)} | ` +
        `${m((x) => x.after.rps / x.before.rps).toFixed(2)} (${r.map((x) => (x.after.rps / x.before.rps).toFixed(2)).join(', ')}) | ` +
        `${m((x) => x.before.p99).toFixed(1)} | ${m((x) => x.after.p99).toFixed(1)} | ${m((x) => x.before.cpuUs).toFixed(0)} | ` +
        `${m((x) => x.after.cpuUs).toFixed(0)} | ${r.reduce((n, x) => n + x.before.errors + x.after.errors, 0)} | ${m((x) => x.rssIdle).toFixed(0)} |`,
    );
  }
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
