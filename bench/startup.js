#!/usr/bin/env node
// Start-up time to ready and memory of the built service (dist/main.js) on the shipped models.
// Starts it RUNS times on a free loopback port; for each: milliseconds from spawn until
// /health/ready answers 200, RSS right after, and RSS after WARM_REQUESTS predictions.
// Usage: npm run bench:startup   (RUNS=5 WARM_REQUESTS=1000 by default)
'use strict';

const { spawn } = require('node:child_process');
const { join } = require('node:path');
const { SERVICE_FLAGS, freePort, residentMiB, waitReady } = require('./proc.js');

const RUNS = Number(process.env.RUNS ?? 5);
const WARM_REQUESTS = Number(process.env.WARM_REQUESTS ?? 1000);
const MAIN = join(__dirname, '..', 'dist', 'main.js');
const BODY = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });

async function once() {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [...SERVICE_FLAGS, MAIN], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  // Polled every 5 ms: the time to ready is the figure measured.
  await waitReady(`${base}/health/ready`, { child, intervalMs: 5 });
  const readyMs = performance.now() - started;
  const rssReady = residentMiB(child.pid);
  for (let i = 0; i < WARM_REQUESTS; i++) {
    const response = await fetch(`${base}/prediction`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
    if (response.status !== 200) throw new Error(`prediction answered ${response.status}`);
    await response.arrayBuffer();
  }
  const rssWarm = residentMiB(child.pid);
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`service exited with code ${code} after SIGTERM`);
  return { readyMs, rssReady, rssWarm };
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

async function main() {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once());
  const row = (name, key, digits) => {
    const s = stats(runs.map((r) => r[key]));
    return `| ${name} | ${s.median.toFixed(digits)} | ${s.min.toFixed(digits)} | ${s.max.toFixed(digits)} |`;
  };
  console.log(`${RUNS} starts of dist/main.js, Node ${process.version}\n`);
  console.log('| measure | median | min | max |\n|---|---|---|---|');
  console.log(row('spawn to /health/ready 200 (ms)', 'readyMs', 0));
  console.log(row('RSS when ready (MiB)', 'rssReady', 1));
  console.log(row(`RSS after ${WARM_REQUESTS} predictions (MiB)`, 'rssWarm', 1));
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
