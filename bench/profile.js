#!/usr/bin/env node
'use strict';
// Where one replica's CPU goes: `npm run bench:profile`. Starts the built service with V8's
// sampling profiler (--cpu-prof), loads `POST /prediction` (iris) with wrk straight at it, stops
// it, and prints the busy time by package and by function (idle time left out).
//
// Knobs (environment): DURATION (10 s), WARMUP (3 s), CONNS (32), MAIN (dist/main.js; another
// build to compare, e.g. one of an older commit), TOP (25 functions), PORT (18390), OUT (keep
// the .cpuprofile in this folder).
const { spawn, execFileSync } = require('node:child_process');
const { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync, mkdirSync, copyFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { SERVICE_FLAGS, waitReady } = require('./proc.js');

const ROOT = join(__dirname, '..');
const MAIN = resolve(process.env.MAIN ?? join(ROOT, 'dist', 'main.js'));
const DURATION = Number(process.env.DURATION ?? 10);
const WARMUP = Number(process.env.WARMUP ?? 3);
const CONNS = Number(process.env.CONNS ?? 32);
const TOP = Number(process.env.TOP ?? 25);
const PORT = Number(process.env.PORT ?? 18390);
const BODY = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });

function wrk(seconds, script) {
  const out = execFileSync('wrk', ['-t1', `-c${CONNS}`, `-d${seconds}s`, '-s', script, `http://127.0.0.1:${PORT}/prediction`], {
    encoding: 'utf8',
  });
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
}

/**
 * Busy time of a profile by package (or service file, Node internal, GC) and by function, from
 * `fromMicros` after the profile started (so that start-up and warm-up are left out).
 */
function summarize(profile, fromMicros) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= fromMicros) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const byGroup = new Map();
  const byFunction = new Map();
  let busy = 0;
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    if (functionName === '(idle)') continue;
    busy += micros;
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1];
    const group = !url
      ? functionName.startsWith('(')
        ? functionName
        : '(native)'
      : (pkg ??
        (url.includes('/dist/')
          ? `service: ${url.split('/dist/')[1].split('/')[0]}`
          : url.startsWith('node:')
            ? `node:${url.slice(5).split('/')[0]}`
            : url));
    byGroup.set(group, (byGroup.get(group) ?? 0) + micros);
    const where = url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/');
    const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
  }
  const table = (map, n) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => `| ${((100 * micros) / busy).toFixed(1)} % | ${name.replace(/\|/g, '\\|')} |`)
      .join('\n');
  return { busyMs: busy / 1000, groups: table(byGroup, 30), functions: table(byFunction, TOP) };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'profile-'));
  const script = join(dir, 'post.lua');
  // The shipped iris model alone: the same repository for every build compared.
  cpSync(join(ROOT, 'models', 'iris'), join(dir, 'models', 'iris'), { recursive: true });
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n`);
  const child = spawn(process.execPath, [...SERVICE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`, MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(PORT),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      MODEL_POLL_INTERVAL_MS: '0',
      MODEL_REPOSITORY: join(dir, 'models'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const spawned = performance.now();
  const exited = new Promise((r) => child.on('exit', r));
  try {
    await waitReady(`http://127.0.0.1:${PORT}/health/ready`);
    wrk(WARMUP, script);
    const measuredFrom = (performance.now() - spawned) * 1000;
    const rps = wrk(DURATION, script);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
    child.kill('SIGTERM');
    await exited;
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const { busyMs, groups, functions } = summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')), measuredFrom);
    if (process.env.OUT) {
      mkdirSync(process.env.OUT, { recursive: true });
      copyFileSync(join(dir, file), join(process.env.OUT, file));
    }
    process.stdout.write(
      `${MAIN}: ${rps.toFixed(0)} req/s at ${CONNS} connections (wrk -t1, ${DURATION} s), RSS ${rss.toFixed(0)} MiB at the end, ${busyMs.toFixed(0)} ms busy while measured\n\n` +
        `| busy | package |\n| ---: | --- |\n${groups}\n\n| busy | function |\n| ---: | --- |\n${functions}\n`,
    );
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
