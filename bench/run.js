#!/usr/bin/env node
'use strict';
// The benchmark: `npm run bench`. Starts each stack on 127.0.0.1, loads it with wrk, stops it,
// and prints one table with the ratios the targets are stated in (bench/README.md).
//
// Stacks (2 replicas of the built service, or 2 bare Fastify processes, behind nginx rendered
// from the repository's nginx/nginx.conf with loopback upstreams):
//   iris-batch      POST /prediction, iris, dynamic batching on (the default), the replicas
//                   serving the shipped models/ (iris, and iris-sklearn on ONNX Runtime)
//   iris-nobatch    the same with BATCHING_ENABLED=false
//   ceiling         2 bare Fastify processes answering a constant: the HTTP ceiling
//   nest-ceiling    2 bare NestJS processes (Fastify adapter) answering a constant
//   nest-dto-ceiling  the same with Nest's ValidationPipe and a class-validator DTO of the row
//   mlp-batch       POST /v2/models/mlp/infer, a 784-512-512-10 dense network, one row of
//                   784 values as JSON, batching on
//   mlp-nobatch     the same, batching off
//   mlp-binary-*    the same two with the row in binary form (the binary tensor data extension)
//   cnn-binary-*    the same on LeNet-5, a small CNN taking a 28x28x1 image (cnn-* sends JSON)
//   mlp-onnx-binary-*, cnn-onnx-binary-*
//                   the same two networks exported to ONNX with the same weights (bench/models.js),
//                   served by ONNX Runtime, binary rows, batching on and off; measured side by side
//                   with their TF.js stacks
// Stacks compared with each other run at once and are measured in turn, ROUNDS times (every other
// round in the reverse order); a ratio of ceilings is printed with each round's own beside it.
// The iris target's two stacks (iris-batch, nest-dto-ceiling) are then measured PAIRS times more,
// one short window each, one right after the other; its ratio is the median pair's.
// Then three overload runs: 512 connections straight at one replica with a small queue, then through
// nginx in front of two, then through nginx in front of two bare servers that refuse everything
// (the floor: what the machine allows before any work is done).
//
// Knobs (environment): DURATION (10 s per row), WARMUP (3 s), ROUNDS (2), STACKS (all),
// CONNS_IRIS ("1 8 64"), CONNS_HEAVY ("1 32 64"), PAIRS (10; 0 skips them), PAIR_SECONDS (5),
// PAIR_WARMUP (1), OVERLOAD (1 runs them, 0 skips them),
// PORT_BASE (18300), SERVICE_NODES (node binaries the replicas run on; default the bench's own).
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { cpus, loadavg, tmpdir, totalmem } = require('node:os');
const { get } = require('node:http');
const { join } = require('node:path');
const { renderLocalConfig, startNginx, nginxBinary } = require('../nginx/render-local.js');
const { runLoad } = require('./load.js');
const { CLOCK_TICKS, KEEP_CODE_FLAG, SERVICE_FLAGS, processCpuSeconds, residentMiB, waitReady } = require('./proc.js');
const { luaPost, wrk } = require('./wrk.js');
const { INPUTS, MLP_WIDTH, onnxModelName, writeModel, writeOnnxModel } = require('./models.js');

const ROOT = join(__dirname, '..');
const SHIPPED_MODELS = join(ROOT, 'models');
const MAIN = join(ROOT, 'dist', 'main.js');
const DURATION = Number(process.env.DURATION ?? 10);
const WARMUP = Number(process.env.WARMUP ?? 3);
const HEAVY = ['mlp', 'mlp-binary', 'cnn-binary', 'mlp-onnx-binary', 'cnn-onnx-binary'];
const CEILINGS = ['ceiling', 'nest-ceiling', 'nest-dto-ceiling'];
/** The overload runs' floor: bare servers that refuse every request (bench/refusal-floor-server.js). */
const FLOOR = 'refusal-floor';
const OVERLOAD_PATH = '/v2/models/mlp/infer';
const STACKS = (
  process.env.STACKS ?? `iris-batch iris-nobatch ${CEILINGS.join(' ')} ${HEAVY.flatMap((m) => [`${m}-batch`, `${m}-nobatch`]).join(' ')}`
)
  .split(/\s+/)
  .filter(Boolean);
const CONNS_IRIS = (process.env.CONNS_IRIS ?? '1 8 64').split(/\s+/).map(Number);
const CONNS_HEAVY = (process.env.CONNS_HEAVY ?? '1 32 64').split(/\s+/).map(Number);
const OVERLOAD = process.env.OVERLOAD !== '0';
const ROUNDS = Number(process.env.ROUNDS ?? 2);
// The target's two stacks are then measured in pairs of short windows, one right after the other.
const PAIRS = Number(process.env.PAIRS ?? 10);
const PAIR_SECONDS = Number(process.env.PAIR_SECONDS ?? 5);
const PAIR_WARMUP = Number(process.env.PAIR_WARMUP ?? 1);
/** The stacks measured in pairs, and the connections they are measured at. */
const PAIRED = { a: 'iris-batch', b: 'nest-dto-ceiling', conns: 64 };
const PORT_BASE = Number(process.env.PORT_BASE ?? 18300);
// Several binaries compare Node versions side by side: each service stack runs once per binary,
// those of the first under their own names (the ratios are theirs), the others as name/node<major>.
const SERVICE_NODES = (process.env.SERVICE_NODES ?? process.execPath).split(/\s+/).filter(Boolean);
// Node's flags for the ceilings' servers. By default the one that keeps V8's optimized code through
// a pause, as the service runs: every stack idles while the others are measured, and on V8's
// defaults a stack would start each round recompiling (bench/README.md, run 13). "" runs them on
// V8's defaults.
const CEILING_FLAGS = (process.env.CEILING_FLAGS ?? KEEP_CODE_FLAG).split(/\s+/).filter(Boolean);
const nodeSuffix = (node) =>
  node === SERVICE_NODES[0] ? '' : `/node${execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim()}`;
/** How busy the machine was before this run added anything (1, 5 and 15 minute averages). */
const LOAD_AT_START = loadavg();

const IRIS_BODY = JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] });

const children = new Set();
const log = (...args) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${args.join(' ')}\n`);

function stopAll() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function ensureTools() {
  const missing = [];
  if (!nginxBinary()) missing.push('nginx');
  if (spawnSync('which', ['wrk']).status !== 0) missing.push('wrk');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`install ${missing.join(' and ')} first (apt-get install ${missing.join(' ')})`);
  log(`installing ${missing.join(', ')}`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

function start(label, command, args, env = {}) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if ((code || signal) && !child.stopping) log(`${label} exited with ${code ?? signal}: ${stderr}`);
  });
  children.add(child);
  return child;
}

async function stop(child) {
  if (child.exitCode !== null) return;
  child.stopping = true;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Polls a POST until it answers `status` (200 by default): the ceilings have no health route. */
async function waitForStatus(url, body, status = 200, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status === status) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stackOf(name, repository, ports, env = {}, node = SERVICE_NODES[0]) {
  const [nginxPort, a, b] = ports;
  const dir = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const replicas = [];
  const bare = CEILINGS.includes(name) || name === FLOOR;
  if (name === FLOOR) {
    for (const port of [a, b]) {
      replicas.push(start(`${name}:${port}`, process.execPath, [join(__dirname, 'refusal-floor-server.js'), String(port), OVERLOAD_PATH]));
    }
    for (const port of [a, b]) await waitForStatus(`http://127.0.0.1:${port}${OVERLOAD_PATH}`, '{}', 429);
  } else if (CEILINGS.includes(name)) {
    const server = name === 'ceiling' ? 'ceiling-server.js' : 'nest-ceiling-server.js';
    const env = name === 'nest-dto-ceiling' ? { DTO: '1' } : {};
    const args = (port) => [...CEILING_FLAGS, join(__dirname, server), String(port)];
    for (const port of [a, b]) replicas.push(start(`${name}:${port}`, process.execPath, args(port), env));
    for (const port of [a, b]) await waitForStatus(`http://127.0.0.1:${port}/prediction`, IRIS_BODY);
  } else {
    const batching = name.endsWith('-batch') ? 'true' : 'false';
    for (const port of [a, b]) replicas.push(startReplica(port, repository, { BATCHING_ENABLED: batching, ...env }, node));
    for (const port of [a, b]) await waitReady(`http://127.0.0.1:${port}/health/ready`);
  }
  // The load comes from one address: the per-client rate limit is lifted for the run.
  const config = renderLocalConfig({ dir, port: nginxPort, upstreams: [a, b], burst: false, bufferedLog: true });
  const nginx = startNginx(config, dir);
  children.add(nginx);
  await new Promise((resolve) => setTimeout(resolve, 500));
  return {
    url: `http://127.0.0.1:${nginxPort}`,
    replicaUrls: bare ? [] : [a, b].map((port) => `http://127.0.0.1:${port}`),
    replicaPids: replicas.map((child) => child.pid),
    /** nginx's master and its workers. */
    nginxPids: () => [nginx.pid, ...childrenOf(nginx.pid)],
    dir,
    async close() {
      nginx.kill('SIGQUIT');
      await Promise.all(replicas.map(stop));
      await new Promise((resolve) => setTimeout(resolve, 500));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A GET's body, on a connection of its own. fetch keeps its connections, and the measurements
 * hold this process's event loop (wrk runs synchronously) past the replicas' keep-alive timeout:
 * fetch then sends on a connection the replica has closed, and fails.
 */
function freshGet(url) {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${response.statusCode}`))));
      response.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * What the replicas' own metrics say of the model's work so far, summed over replicas and
 * models: batches run, rows, and seconds spent computing them. Null for the ceiling.
 */
async function computeTotals(replicaUrls) {
  if (replicaUrls.length === 0) return null;
  const totals = { batches: 0, rows: 0, seconds: 0 };
  for (const url of replicaUrls) {
    const text = await freshGet(`${url}/metrics`);
    const sum = (metric) =>
      text
        .split('\n')
        .filter((line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric} `))
        .reduce((n, line) => n + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    totals.batches += sum('inference_batch_size_rows_count');
    totals.rows += sum('inference_batch_size_rows_sum');
    totals.seconds += sum('inference_compute_duration_seconds_sum');
  }
  return totals;
}

/** Whether `url` answers 200 (on a connection of its own, as freshGet); a refused connection is false. */
function answersOk(url) {
  return freshGet(url).then(
    () => true,
    () => false,
  );
}

/** One replica of the built service on 127.0.0.1:`port`, serving `repository`. */
function startReplica(port, repository, env = {}, node = SERVICE_NODES[0]) {
  return start(`replica:${port}`, node, [...SERVICE_FLAGS, MAIN], {
    PORT: String(port),
    HOST: '127.0.0.1',
    MODEL_REPOSITORY: repository,
    LOG_LEVEL: 'warn',
    MODEL_POLL_INTERVAL_MS: '0',
    ...env,
  });
}

/** 512 connections straight at one replica with a small queue: only 200, 429 and 504. */
async function overload(repository, port) {
  const child = startReplica(port, repository, { MAX_QUEUE_SIZE: '32' });
  await waitReady(`http://127.0.0.1:${port}/health/ready`);
  const cpu = cpuMeter({ replica: () => [child.pid] });
  const result = await overloadLoad(`http://127.0.0.1:${port}`, cpu);
  const alive = await answersOk(`http://127.0.0.1:${port}/health/live`);
  await stop(child);
  return { ...result, alive, cpu: cpu.shares() };
}

/**
 * The same load through nginx in front of 2 such replicas, as deployed (per-client limits lifted):
 * also counts the answers nginx made itself, having no replica left to try (its access log
 * names the upstream group instead of a replica then).
 */
async function overloadThroughNginx(repository, ports) {
  const stack = await stackOf('overload-nginx', repository, ports, { MAX_QUEUE_SIZE: '32', BATCHING_ENABLED: 'true' });
  try {
    const cpu = cpuMeter({ replicas: () => stack.replicaPids, nginx: stack.nginxPids });
    const result = await overloadLoad(stack.url, cpu);
    const alive = (await Promise.all(stack.replicaUrls.map((url) => answersOk(`${url}/health/live`)))).every(Boolean);
    // The access log is flushed every second.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const log = readFileSync(join(stack.dir, 'access.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    const answeredByNginx = log.filter((entry) => entry.upstream === 'api').length;
    return { ...result, alive, answeredByNginx, logged: log.length, cpu: cpu.shares() };
  } finally {
    await stack.close();
  }
}

/**
 * The floor: the same load through the same nginx in front of 2 bare servers that refuse every
 * request at once (bench/refusal-floor-server.js): what the machine, nginx and the load
 * generator allow before any work is done.
 */
async function overloadFloor(ports) {
  const stack = await stackOf(FLOOR, null, ports);
  try {
    const cpu = cpuMeter({ servers: () => stack.replicaPids, nginx: stack.nginxPids });
    return { ...(await overloadLoad(stack.url, cpu)), cpu: cpu.shares() };
  } finally {
    await stack.close();
  }
}

function overloadLoad(baseUrl, cpu) {
  const body = JSON.stringify(heavyBody('mlp'));
  return runLoad({
    url: `${baseUrl}${OVERLOAD_PATH}`,
    body,
    connections: 512,
    seconds: DURATION,
    warmupSeconds: WARMUP,
    lateMs: 5000,
    onWindow: cpu.mark,
  });
}

/** CPU seconds the processes have used so far, together. */
function cpuSecondsOf(pids) {
  return pids.reduce((n, pid) => n + processCpuSeconds(pid), 0);
}

/** CPU seconds this process's finished children have used (wrk, once it has exited), from /proc. */
function finishedChildrenCpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** The processes whose parent is `pid` (nginx's workers). */
function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** CPU seconds the whole machine spent busy (steal included: time this VM wanted and did not get). */
function machineBusySeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

/**
 * Where the machine's CPU went between mark('start') and mark('end'), in % of one core (200 is
 * both cores of this machine): each role's processes, this process (the load generator), and
 * the rest of the machine (other processes, the kernel's loopback networking, steal).
 */
function cpuMeter(roles) {
  const samples = {};
  const sample = () => {
    const usage = process.cpuUsage();
    const seconds = { 'load generator': (usage.user + usage.system) / 1e6, machine: machineBusySeconds() };
    for (const [role, pids] of Object.entries(roles)) seconds[role] = cpuSecondsOf(pids());
    return { at: performance.now(), seconds };
  };
  return {
    mark: (phase) => (samples[phase] = sample()),
    shares() {
      const { start, end } = samples;
      if (!start || !end) return undefined;
      const elapsed = (end.at - start.at) / 1000;
      const share = (role) => (100 * (end.seconds[role] - start.seconds[role])) / elapsed;
      const result = {};
      let ours = 0;
      for (const role of [...Object.keys(roles), 'load generator']) ours += result[role] = share(role);
      result['rest of the machine'] = share('machine') - ours;
      return result;
    },
  };
}

/** One row of 784 values, the same for every request. */
function heavyRow() {
  return Array.from({ length: MLP_WIDTH }, (_, i) => ((i * 37) % 255) / 255);
}

/** A V2 infer request of one row to a heavier model, as JSON. */
function heavyBody(kind) {
  const { name, rowShape } = INPUTS[kind];
  return { inputs: [{ name, shape: [1, ...rowShape], datatype: 'FP32', data: heavyRow() }] };
}

/** The same row with the binary tensor data extension: a JSON header, then 784 float32s. */
function heavyBinary(kind) {
  const { name, rowShape } = INPUTS[kind];
  const data = Buffer.from(new Float32Array(heavyRow()).buffer);
  const header = Buffer.from(
    JSON.stringify({ inputs: [{ name, shape: [1, ...rowShape], datatype: 'FP32', parameters: { binary_data_size: data.length } }] }),
  );
  return { body: Buffer.concat([header, data]), headerLength: header.length };
}

/** One row: wrk's warm-up, then its measured run, with what the replicas computed meanwhile. */
async function measure(stack, script, conns, warmup = WARMUP, seconds = DURATION) {
  wrk(`${stack.url}/`, script, conns, warmup);
  const before = await computeTotals(stack.replicaUrls);
  const nginxPids = stack.nginxPids();
  const cpuBefore = { servers: cpuSecondsOf(stack.replicaPids), nginx: cpuSecondsOf(nginxPids), wrk: finishedChildrenCpuSeconds() };
  const row = wrk(`${stack.url}/`, script, conns, seconds);
  // The servers' own CPU time per request (nginx and wrk left out): what a request costs a
  // replica, less moved than req/s by what else the machine runs. nginx's and wrk's beside it:
  // the rest of what one request costs the machine.
  const perRequest = (seconds) => (1e6 * seconds) / row.requests;
  row.cpuUsPerRequest = perRequest(cpuSecondsOf(stack.replicaPids) - cpuBefore.servers);
  row.nginxUsPerRequest = perRequest(cpuSecondsOf(nginxPids) - cpuBefore.nginx);
  row.wrkUsPerRequest = perRequest(finishedChildrenCpuSeconds() - cpuBefore.wrk);
  row.rssMiB = Math.max(...stack.replicaPids.map(residentMiB));
  const after = await computeTotals(stack.replicaUrls);
  if (after) {
    row.rowsPerBatch = (after.rows - before.rows) / (after.batches - before.batches);
    row.computeMsPerRow = (1000 * (after.seconds - before.seconds)) / (after.rows - before.rows);
  }
  return row;
}

/**
 * The two stacks of the target, PAIRS times one window each, one right after the other (the
 * order swapped every pair): the machine's speed drifts by more than the difference to be seen
 * between rows measured a minute apart, but little within a pair. Each pair gives its own ratios.
 */
async function measurePairs(a, b, scripts) {
  const pairs = [];
  for (let i = 0; i < PAIRS; i++) {
    const rows = {};
    for (const stack of i % 2 === 0 ? [a, b] : [b, a]) {
      rows[stack === a ? 'a' : 'b'] = await measure(stack, scripts[stack.model], PAIRED.conns, PAIR_WARMUP, PAIR_SECONDS);
    }
    pairs.push(rows);
    log(
      `pair ${i + 1}: ${a.name} ${fmt(rows.a.rps)} req/s (p99 ${fmt(rows.a.p99, 2)} ms), ${b.name} ${fmt(rows.b.rps)} req/s (p99 ${fmt(rows.b.p99, 2)} ms): ${fmt(rows.a.rps / rows.b.rps, 3)}`,
    );
  }
  return pairs;
}

const median = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** The rounds of one row: means of the rates and latencies, sums of the failures. */
function combine(rows) {
  const mean = (field) => rows.reduce((n, r) => n + r[field], 0) / rows.length;
  return {
    rps: mean('rps'),
    p50: mean('p50'),
    p99: mean('p99'),
    non2xx: rows.reduce((n, r) => n + r.non2xx, 0),
    errors: rows.reduce((n, r) => n + r.errors, 0),
    rowsPerBatch: rows[0].rowsPerBatch === undefined ? undefined : mean('rowsPerBatch'),
    computeMsPerRow: rows[0].computeMsPerRow === undefined ? undefined : mean('computeMsPerRow'),
    rounds: rows.map((r) => r.rps),
    cpuUsPerRequest: mean('cpuUsPerRequest'),
    cpuRounds: rows.map((r) => r.cpuUsPerRequest),
    nginxUsPerRequest: mean('nginxUsPerRequest'),
    wrkUsPerRequest: mean('wrkUsPerRequest'),
    rssMiB: Math.max(...rows.map((r) => r.rssMiB)),
  };
}

const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main() {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run "npm run build" first ("npm run bench" does)');
  ensureTools();
  const work = mkdtempSync(join(tmpdir(), 'bench-'));
  const repository = join(work, 'models');
  cpSync(join(ROOT, 'models', 'iris'), join(repository, 'iris'), { recursive: true });
  const scripts = { iris: luaPost(work, 'iris', '/prediction', IRIS_BODY) };
  for (const kind of Object.keys(INPUTS)) {
    writeModel(kind, join(repository, kind, '1'));
    scripts[kind] = luaPost(work, kind, `/v2/models/${kind}/infer`, JSON.stringify(heavyBody(kind)));
    const binary = heavyBinary(kind);
    scripts[`${kind}-binary`] = luaPost(work, `${kind}-binary`, `/v2/models/${kind}/infer`, binary.body, {
      'Content-Type': 'application/octet-stream',
      'Inference-Header-Content-Length': binary.headerLength,
    });
    // The same network on ONNX Runtime, from the same weights (checked to agree with TF.js), and the same request.
    const largest = writeOnnxModel(kind, join(repository, kind, '1'), join(repository, onnxModelName(kind), '1'));
    log(`${onnxModelName(kind)}: written from ${kind}'s weights; outputs within ${largest.toExponential(1)} of TF.js's on 64 rows`);
    scripts[`${kind}-onnx-binary`] = luaPost(work, `${kind}-onnx-binary`, `/v2/models/${onnxModelName(kind)}/infer`, binary.body, {
      'Content-Type': 'application/octet-stream',
      'Inference-Header-Content-Length': binary.headerLength,
    });
  }
  // Rows to be compared are measured side by side: the stacks of a group run at once, and each
  // connection count goes through all of them in turn, ROUNDS times, so a slow spell of this
  // shared machine falls on both sides of a ratio.
  const groups = [];
  for (const name of STACKS) {
    const model = name.replace(/-(no)?batch$/, '');
    // A network's ONNX Runtime stacks are measured beside its TF.js ones.
    const group = CEILINGS.includes(model) ? 'iris' : model.replace('-onnx', '');
    (groups.find((g) => g.key === group) ?? groups[groups.push({ key: group, names: [] }) - 1]).names.push(name);
  }
  const rounds = {};
  let pairs;
  let offset = 0;
  for (const group of groups) {
    const conns = group.key === 'iris' ? CONNS_IRIS : CONNS_HEAVY;
    log(`${group.names.join(', ')}: starting`);
    const stacks = [];
    try {
      for (const name of group.names) {
        // The ceilings answer the iris request, on the benchmark's own Node.
        const model = CEILINGS.includes(name) ? 'iris' : name.replace(/-(no)?batch$/, '');
        for (const node of CEILINGS.includes(name) ? SERVICE_NODES.slice(0, 1) : SERVICE_NODES) {
          const ports = [0, 1, 2].map((i) => PORT_BASE + offset + i);
          // The iris stacks serve the shipped models, as the README's quick start does (so their RSS
          // is the shipped service's); the heavier networks' stacks, the benchmark's repository.
          const served = model === 'iris' ? SHIPPED_MODELS : repository;
          stacks.push({ ...(await stackOf(name, served, ports, {}, node)), name: `${name}${nodeSuffix(node)}`, model });
          offset += 3;
        }
      }
      for (let round = 1; round <= ROUNDS; round++) {
        for (const c of conns) {
          // Every other round in the reverse order, so that neither side of a ratio is always measured second.
          for (const stack of round % 2 === 1 ? stacks : [...stacks].reverse()) {
            const row = await measure(stack, scripts[stack.model], c);
            (rounds[`${stack.name}@${c}`] ??= []).push(row);
            log(
              `${stack.name} @${c} (round ${round}): ${fmt(row.rps)} req/s, p50 ${fmt(row.p50, 2)} ms, p99 ${fmt(row.p99, 2)} ms, non-2xx ${row.non2xx}, errors ${row.errors}` +
                (row.rowsPerBatch
                  ? `, ${fmt(row.rowsPerBatch, 1)} rows per batch, ${fmt(row.computeMsPerRow, 3)} ms of compute per row`
                  : ''),
            );
          }
        }
      }
      const a = stacks.find((stack) => stack.name === PAIRED.a);
      const b = stacks.find((stack) => stack.name === PAIRED.b);
      if (a && b && PAIRS > 0 && conns.includes(PAIRED.conns)) {
        log(`${a.name}, ${b.name}: ${PAIRS} pairs of ${PAIR_SECONDS} s windows at ${PAIRED.conns} connections`);
        pairs = await measurePairs(a, b, scripts);
      }
    } finally {
      await Promise.all(stacks.map((stack) => stack.close()));
    }
  }
  const results = Object.fromEntries(Object.entries(rounds).map(([key, rows]) => [key, combine(rows)]));
  let overloadResult;
  if (OVERLOAD) {
    log('overload: 512 connections, MAX_QUEUE_SIZE=32, one replica');
    overloadResult = await overload(repository, PORT_BASE + offset);
    log('overload: the same through nginx in front of 2 replicas');
    overloadResult.nginx = await overloadThroughNginx(
      repository,
      [0, 1, 2].map((i) => PORT_BASE + offset + 1 + i),
    );
    log('overload: the same through nginx in front of 2 bare servers that refuse everything (the floor)');
    overloadResult.floor = await overloadFloor([0, 1, 2].map((i) => PORT_BASE + offset + 4 + i));
  }
  rmSync(work, { recursive: true, force: true });
  const report = table(results, pairs, overloadResult);
  process.stdout.write(report);
  const resultsDir = join(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.md`), report);
}

function table(results, pairs, overloadResult) {
  const lines = [];
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const nodes = SERVICE_NODES.map((node) => execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()).join(', ');
  lines.push(
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${nodes}, nginx and wrk on the same machine; ${DURATION} s per row after ${WARMUP} s of warm-up, ${ROUNDS} rounds (means)${CEILING_FLAGS.length ? `; the ceilings' servers run with ${CEILING_FLAGS.join(' ')}` : ''}; load average when the run began ${LOAD_AT_START.map((l) => l.toFixed(2)).join(', ')}`,
  );
  lines.push('');
  lines.push(
    "| stack | conns | req/s | req/s by round | p50 ms | p99 ms | non-2xx | socket errors | rows per batch | compute ms per row | servers' CPU µs per request | nginx's, wrk's CPU µs per request | RSS MiB (largest process) |",
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const order = (key) => [STACKS.indexOf(key.split('@')[0].split('/')[0]), Number(key.split('@')[1]), key.includes('/node') ? 1 : 0];
  const keys = Object.keys(results).sort((x, y) => order(x)[0] - order(y)[0] || order(x)[1] - order(y)[1] || order(x)[2] - order(y)[2]);
  for (const key of keys) {
    const r = results[key];
    const [name, conns] = key.split('@');
    lines.push(
      `| ${name} | ${conns} | ${fmt(r.rps)} | ${r.rounds.map((v) => fmt(v)).join(', ')} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.non2xx} | ${r.errors} | ${fmt(r.rowsPerBatch, 1)} | ${fmt(r.computeMsPerRow, 3)} | ${fmt(r.cpuUsPerRequest)} | ${fmt(r.nginxUsPerRequest)}, ${fmt(r.wrkUsPerRequest)} | ${fmt(r.rssMiB)} |`,
    );
  }
  lines.push('');
  const ratio = (a, b) => (results[a] && results[b] ? results[a].rps / results[b].rps : NaN);
  // A ratio of the means, then each round's own (its two rows measured one after the other).
  const withRounds = (overall, byRound) =>
    ROUNDS > 1 ? `${fmt(overall, 2)} (by round: ${byRound.map((value) => fmt(value, 2)).join(', ')})` : fmt(overall, 2);
  const ratioByRound = (a, b) =>
    results[a] && results[b]
      ? withRounds(
          ratio(a, b),
          results[a].rounds.map((rps, i) => rps / results[b].rounds[i]),
        )
      : '-';
  // The servers' CPU per request, the other way up: b's cost over a's (above 1, a's requests cost less).
  const cpuRatioByRound = (a, b) =>
    results[a] && results[b]
      ? withRounds(
          results[b].cpuUsPerRequest / results[a].cpuUsPerRequest,
          results[a].cpuRounds.map((us, i) => results[b].cpuRounds[i] / us),
        )
      : '-';
  const delta = (a, b) => (results[a] && results[b] ? results[a].p50 - results[b].p50 : NaN);
  lines.push('| ratio | value | target |');
  lines.push('|---|---:|---|');
  lines.push(`| iris (batching on) / bare Fastify, req/s at 64 connections | ${ratioByRound('iris-batch@64', 'ceiling@64')} | |`);
  lines.push(`| iris (batching on) / bare NestJS, req/s at 64 connections | ${ratioByRound('iris-batch@64', 'nest-ceiling@64')} | |`);
  lines.push(
    `| iris (batching on) / NestJS with ValidationPipe and a DTO, req/s at 64 connections | ${ratioByRound('iris-batch@64', 'nest-dto-ceiling@64')} | |`,
  );
  lines.push(
    `| NestJS with ValidationPipe and a DTO / iris (batching on), the servers' CPU per request at 64 connections | ${cpuRatioByRound('iris-batch@64', 'nest-dto-ceiling@64')} | |`,
  );
  if (pairs) lines.push(...pairedReport(pairs));
  lines.push(
    `| NestJS with ValidationPipe and a DTO / bare Fastify, req/s at 64 connections | ${ratioByRound('nest-dto-ceiling@64', 'ceiling@64')} | |`,
  );
  lines.push(`| iris batching on / off, req/s at 64 connections | ${fmt(ratio('iris-batch@64', 'iris-nobatch@64'), 2)} | |`);
  const heavy = [...new Set(STACKS.map((name) => name.replace(/-(no)?batch$/, '')))].filter((m) => m !== 'iris' && !CEILINGS.includes(m));
  // The most batching can give: how much less compute a row costs in the batches it formed.
  const computeGain = (on, off) => (results[on] && results[off] ? results[off].computeMsPerRow / results[on].computeMsPerRow : NaN);
  for (const model of heavy) {
    for (const c of [32, 64]) {
      lines.push(
        `| ${model} batching on / off, rows/s at ${c} connections | ${fmt(ratio(`${model}-batch@${c}`, `${model}-nobatch@${c}`), 2)} | >= 3 |`,
      );
    }
  }
  for (const model of heavy) {
    for (const c of [32, 64]) {
      lines.push(
        `| ${model} compute per row, batching off / on, at ${c} connections (the model's own gain) | ${fmt(computeGain(`${model}-batch@${c}`, `${model}-nobatch@${c}`), 2)} | |`,
      );
    }
  }
  for (const model of heavy.filter((m) => m.includes('-onnx'))) {
    const wasm = model.replace('-onnx', '');
    for (const mode of ['batch', 'nobatch']) {
      lines.push(
        `| ${model} (ONNX Runtime) / ${wasm} (TF.js), rows/s at 64 connections, batching ${mode === 'batch' ? 'on' : 'off'} | ${fmt(ratio(`${model}-${mode}@64`, `${wasm}-${mode}@64`), 2)} | |`,
      );
    }
  }
  lines.push(`| iris p50 at 1 connection, batching on - off (ms) | ${fmt(delta('iris-batch@1', 'iris-nobatch@1'), 3)} | <= 1 |`);
  for (const model of heavy) {
    lines.push(
      `| ${model} p50 at 1 connection, batching on - off (ms) | ${fmt(delta(`${model}-batch@1`, `${model}-nobatch@1`), 3)} | <= 1 |`,
    );
  }
  if (overloadResult) lines.push(...overloadReport(overloadResult));
  lines.push('');
  return lines.join('\n');
}

/** The target's ratio from the pairs: the median pair's, with the spread; and what else the pairs measured. */
function pairedReport(pairs) {
  const ratios = pairs.map((pair) => pair.a.rps / pair.b.rps);
  const cpu = pairs.map((pair) => pair.b.cpuUsPerRequest / pair.a.cpuUsPerRequest);
  const failures = (side) => pairs.reduce((n, pair) => n + pair[side].non2xx + pair[side].errors, 0);
  const p99 = (side) => median(pairs.map((pair) => pair[side].p99));
  const rss = (side) => Math.max(...pairs.map((pair) => pair[side].rssMiB));
  const what = `${PAIRED.a} / ${PAIRED.b}, ${pairs.length} pairs of ${PAIR_SECONDS} s windows at ${PAIRED.conns} connections, each pair one window after the other`;
  return [
    `| ${what}: req/s, the median pair's ratio (lowest, highest; pairs at or above 1) | ${fmt(median(ratios), 2)} (${fmt(Math.min(...ratios), 2)}, ${fmt(Math.max(...ratios), 2)}; ${ratios.filter((r) => r >= 1).length} of ${ratios.length}) | >= 1.0, no errors |`,
    `| the same pairs: p99 ms (medians), ${PAIRED.a} and ${PAIRED.b} | ${fmt(p99('a'), 2)}, ${fmt(p99('b'), 2)} | |`,
    `| the same pairs: ${PAIRED.b} / ${PAIRED.a}, the servers' CPU per request (the median pair's) | ${fmt(median(cpu), 2)} | |`,
    `| the same pairs: RSS MiB (the largest process), ${PAIRED.a} and ${PAIRED.b} | ${fmt(rss('a'))}, ${fmt(rss('b'))} | |`,
    `| the same pairs: non-2xx answers and socket errors, ${PAIRED.a} and ${PAIRED.b} | ${failures('a')}, ${failures('b')} | 0 |`,
  ];
}

/** What an overload run's measured window got, status by status. */
function overloadCounts(r) {
  return (
    `${r.counts[200] ?? 0} answered 200 (p50 ${fmt(r.p50[200], 1)} ms, p99 ${fmt(r.p99[200], 1)} ms), ` +
    `${r.counts[429] ?? 0} refused 429 (p50 ${fmt(r.p50[429], 1)} ms, p99 ${fmt(r.p99[429], 1)} ms), ` +
    `${r.counts[503] ?? 0} refused 503, ${r.counts[504] ?? 0} timed out 504, other statuses ${r.other}, socket errors ${r.errors}`
  );
}

/** Where the CPU went in a run's measured window, in % of one core. */
function cpuLine(cpu) {
  if (!cpu) return 'CPU not measured';
  return (
    `CPU in the measured window, in % of one core (${cpus().length * 100} is the whole machine): ` +
    Object.entries(cpu)
      .map(([role, share]) => `${role} ${fmt(share)}`)
      .join(', ')
  );
}

/** The two overload runs: their counts, warm-ups and CPU, then the figures the targets are stated in. */
function overloadReport(o) {
  const lines = [
    '',
    `Overload: 512 connections at one replica (mlp, MAX_QUEUE_SIZE=32, REQUEST_TIMEOUT_MS=5000) for ${DURATION} s after a warm-up: ` +
      `${overloadCounts(o)}; alive afterwards: ${o.alive ? 'yes' : 'NO'}. ${cpuLine(o.cpu)}.`,
  ];
  lines.push(
    '',
    `The warm-up (at least ${WARMUP} s, until each of the 512 connections had an answer) took ${fmt(o.warmup.seconds, 1)} s; ` +
      `the slowest first answer on a connection came after ${fmt(o.warmup.firstAnswerMaxMs)} ms, the slowest TCP handshake took ${fmt(o.warmup.handshakeMaxMs)} ms.`,
  );
  const late = o.late.filter((l) => l.status === 200);
  if (late.length > 0) {
    const fresh = late.filter((l) => l.newConnection);
    const sent = late.map((l) => l.sentAtMs);
    lines.push(
      '',
      `${late.length} of the measured 200s came after the 5 s deadline (${fresh.length} of them the first request of a new connection), ` +
        `sent between ${fmt(Math.min(...sent))} and ${fmt(Math.max(...sent))} ms into the measured window.`,
    );
  }
  const n = o.nginx;
  if (!n) return lines;
  const ownShare = (100 * n.answeredByNginx) / n.logged;
  lines.push(
    '',
    `The same through nginx in front of 2 replicas (the deployed nginx.conf, per-client limits lifted): ${overloadCounts(n)}; ` +
      `of the ${n.logged} requests in nginx's access log (warm-up included), ${n.answeredByNginx} were answered by nginx itself, no replica being left to try; ` +
      `replicas alive afterwards: ${n.alive ? 'yes' : 'NO'}. Warm-up ${fmt(n.warmup.seconds, 1)} s, slowest first answer ${fmt(n.warmup.firstAnswerMaxMs)} ms, ` +
      `slowest TCP handshake ${fmt(n.warmup.handshakeMaxMs)} ms. ${cpuLine(n.cpu)}.`,
  );
  const f = o.floor;
  if (f) {
    lines.push(
      '',
      `The floor, the same through nginx in front of 2 bare servers refusing everything at once (bench/refusal-floor-server.js): ${overloadCounts(f)}. ` +
        `Warm-up ${fmt(f.warmup.seconds, 1)} s, slowest first answer ${fmt(f.warmup.firstAnswerMaxMs)} ms, slowest TCP handshake ${fmt(f.warmup.handshakeMaxMs)} ms. ${cpuLine(f.cpu)}.`,
    );
  }
  const ok200 = (r) => r.counts[200] ?? 0;
  const floor = (value) => (f ? ` ${value} |` : '');
  lines.push(
    '',
    `| overload, 512 connections | one replica | 2 replicas behind nginx | target |${f ? ' floor: 2 bare refusing servers behind nginx |' : ''}`,
    `|---|---:|---:|---|${f ? '---:|' : ''}`,
  );
  lines.push(
    `| 200s in the ${DURATION} s window | ${ok200(o)} | ${ok200(n)} (${fmt(ok200(n) / ok200(o), 2)} x one replica) | 2 replicas >= 1.7 x one |${floor('')}`,
  );
  lines.push(`| requests nginx answered itself, no replica left to try | | ${fmt(ownShare, 1)} % | <= 5 % |${floor('')}`);
  lines.push(
    `| p99 of the 200s | ${fmt(o.p99[200])} ms | ${fmt(n.p99[200])} ms | <= 500 ms |${floor(f ? `${fmt(f.p99[429])} ms (of its 429s)` : '')}`,
  );
  lines.push(
    `| slowest first answer on a new connection | ${fmt(o.warmup.firstAnswerMaxMs)} ms | ${fmt(n.warmup.firstAnswerMaxMs)} ms | <= 1000 ms |${floor(f ? `${fmt(f.warmup.firstAnswerMaxMs)} ms` : '')}`,
  );
  lines.push(
    `| CPU of the replicas (servers), nginx and the load generator in the window (% of one core) | ${fmt(o.cpu?.replica)}, -, ${fmt(o.cpu?.['load generator'])} | ${fmt(n.cpu?.replicas)}, ${fmt(n.cpu?.nginx)}, ${fmt(n.cpu?.['load generator'])} | |${floor(f ? `${fmt(f.cpu?.servers)}, ${fmt(f.cpu?.nginx)}, ${fmt(f.cpu?.['load generator'])}` : '')}`,
  );
  lines.push(
    `| rest of the machine's CPU in the window (% of one core) | ${fmt(o.cpu?.['rest of the machine'])} | ${fmt(n.cpu?.['rest of the machine'])} | |${floor(f ? fmt(f.cpu?.['rest of the machine']) : '')}`,
  );
  return lines;
}

main().catch((error) => {
  // fetch's own error says only "fetch failed": the reason is its cause.
  log(`benchmark failed: ${error.stack ?? error}${error.cause ? `\ncaused by: ${error.cause.stack ?? error.cause}` : ''}`);
  process.exit(1);
});
