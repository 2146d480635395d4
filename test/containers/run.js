#!/usr/bin/env node
'use strict';
// The images as shipped, built and run with podman (`npm run test:containers`):
//
// - Dockerfile: built (--format docker keeps the HEALTHCHECK), its size printed and at most
//   400 MB; run hardened (read-only root, no capabilities, no new privileges, a memory limit)
//   as uid 1000 under tini; ready and answering setosa with the models built in, and with a
//   repository mounted read-only; its health check passing; `podman stop` ending it with exit 0
//   within the shutdown delay and drain; onnxruntime-node running a model inside it; the WASM
//   backend by default, and the native one (WITH_TFJS_NODE=true) installed or refused in one line.
// - docker-compose.yml: brought up by docker-compose through podman's Docker-compatible API:
//   3 api replicas that the name "api" resolves to, nginx (nginx/Dockerfile) in front answering,
//   and no failed request while one replica is killed under load.
//
// Needs podman, docker-compose and the base images of both Dockerfiles (pulled, or built by
// .ci/stand-in-base-images.sh where no registry can be reached). Without them this exits 0 with
// a message, except under CI=true, where that is a failure. Podman must work on the machine:
// .ci/podman-env.sh says what CI sets for that.
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const { chmodSync, chownSync, cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } = require('node:fs');
const net = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { parse: parseYaml } = require('yaml');

const ROOT = join(__dirname, '..', '..');
const MAX_IMAGE_BYTES = 400 * 1000 * 1000;
const SETOSA_ROW = { features: [5.1, 3.5, 1.4, 0.2] };
/** Given to the stop check: short enough to wait for, long enough to tell from an instant exit. */
const SHUTDOWN = { delayMs: 2000, drainMs: 5000 };
const RUN_ID = `mlms${process.pid}`;

const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
const API_IMAGE = compose.services.api.image;
const NGINX_IMAGE = compose.services.nginx.image;

const log = (line) => process.stdout.write(`[containers] ${line}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs a command to completion; returns its stdout, or throws with its output. */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000, ...options });
  if (result.error) throw result.error;
  if (result.status !== 0 && !options.allowFailure) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return options.allowFailure ? result : result.stdout.trim();
}

const podman = (...args) => run('podman', args);

function missingPrerequisites() {
  const missing = [];
  for (const tool of ['podman', 'docker-compose']) {
    if (spawnSync(tool, ['version'], { encoding: 'utf8' }).error) missing.push(`${tool} is not installed`);
  }
  if (missing.length > 0) return missing;
  for (const dockerfile of ['Dockerfile', 'nginx/Dockerfile']) {
    for (const image of baseImages(dockerfile)) {
      if (spawnSync('podman', ['image', 'exists', image]).status !== 0) {
        missing.push(`base image ${image} (${dockerfile}) is not present: pull it, or build a stand-in with .ci/stand-in-base-images.sh`);
      }
    }
  }
  return missing;
}

/** The FROM images of a Dockerfile, stage names left out. */
function baseImages(dockerfile) {
  const stages = new Set();
  const images = new Set();
  for (const line of readFileSync(join(ROOT, dockerfile), 'utf8').split('\n')) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!from) continue;
    if (!stages.has(from[1])) images.add(from[1]);
    if (from[2]) stages.add(from[2]);
  }
  return [...images];
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Builds an image; returns whether it built, the build's output and how long it took. */
function build(tag, context, extra = []) {
  const started = Date.now();
  const args = ['build', '--pull=never', '--format', 'docker', ...(tag ? ['-t', tag] : []), ...extra, context];
  // A cold build of the api image takes minutes on a busy 2-core machine.
  const result = run('podman', args, { cwd: ROOT, allowFailure: true, timeout: 1_200_000 });
  const output = `${result.stdout}${result.stderr}`;
  return { ok: result.status === 0, output, ms: Date.now() - started };
}

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds(timeoutMs)}${last ? ` (${last.message})` : ''}`);
    await sleep(250);
  }
}

async function predict(port, body = SETOSA_ROW) {
  const response = await fetch(`http://127.0.0.1:${port}/prediction`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.json() };
}

const ready = (port) => async () =>
  (await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2000) })).status === 200;

const HARDENED = [
  '--read-only',
  '--tmpfs',
  '/tmp:size=16m',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
  '--memory',
  '512m',
];

// ---------------------------------------------------------------------------------------------

async function checkApiImage(cleanup) {
  const built = build(API_IMAGE, '.');
  assert.ok(built.ok, `the api image did not build:\n${built.output.slice(-4000)}`);
  const size = Number(podman('image', 'inspect', '--format', '{{.Size}}', API_IMAGE));
  log(`api image ${API_IMAGE}: built in ${seconds(built.ms)}, ${(size / 1e6).toFixed(0)} MB (limit ${MAX_IMAGE_BYTES / 1e6} MB)`);
  assert.ok(size <= MAX_IMAGE_BYTES, `the api image is ${size} bytes, over ${MAX_IMAGE_BYTES}`);
  const healthcheck = JSON.parse(podman('image', 'inspect', '--format', '{{json .Config.Healthcheck}}', API_IMAGE));
  assert.ok(
    healthcheck && healthcheck.Test.join(' ').includes('/health/live'),
    `the image lost its HEALTHCHECK: ${JSON.stringify(healthcheck)}`,
  );

  // Hardened, the models built in.
  const port = await freePort();
  const name = `${RUN_ID}-api`;
  cleanup.push(() => run('podman', ['rm', '-f', '-t', '0', name], { allowFailure: true }));
  podman(
    'run',
    '-d',
    '--name',
    name,
    ...HARDENED,
    '-p',
    `127.0.0.1:${port}:8080`,
    '-e',
    `SHUTDOWN_DELAY_MS=${SHUTDOWN.delayMs}`,
    '-e',
    `SHUTDOWN_DRAIN_TIMEOUT_MS=${SHUTDOWN.drainMs}`,
    API_IMAGE,
  );
  await waitFor('/health/ready answering 200 (models built in)', ready(port), 60_000);
  const answer = await predict(port);
  assert.equal(answer.status, 200);
  assert.equal(answer.body.prediction, 'setosa');
  assert.equal(answer.body.model.name, 'iris');
  const processes = podman('top', name, 'pid', 'user', 'args')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/));
  const pid1 = processes.find(([pid]) => pid === '1');
  assert.deepEqual(pid1?.slice(1, 3), ['node', '/usr/bin/tini'], `PID 1: ${JSON.stringify(pid1)}`);
  assert.equal(podman('exec', name, 'id', '-u'), '1000');
  const status = podman('exec', name, 'cat', '/proc/1/status');
  assert.match(status, /^CapEff:\s+0+$/m);
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  assert.match(podman('logs', name), /running on the 'wasm' backend/);
  assert.equal(run('podman', ['healthcheck', 'run', name], { allowFailure: true }).status, 0, 'podman healthcheck run failed');
  log(
    'api image: ready and answering setosa (models built in), uid 1000, tini as PID 1, no capabilities, WASM backend, health check passing',
  );

  // SIGTERM through tini: serving for the delay, then a drain, then exit 0; SIGKILL would come
  // only after the 30 s given to stop, with exit code 137.
  const stopStarted = Date.now();
  podman('stop', '-t', '30', name);
  const stopMs = Date.now() - stopStarted;
  const exitCode = Number(podman('inspect', '--format', '{{.State.ExitCode}}', name));
  log(
    `api image: podman stop took ${seconds(stopMs)} (SHUTDOWN_DELAY_MS ${SHUTDOWN.delayMs}, drain up to ${SHUTDOWN.drainMs} ms), exit code ${exitCode}`,
  );
  assert.equal(exitCode, 0);
  assert.ok(stopMs >= SHUTDOWN.delayMs, 'stopped before its shutdown delay: SIGTERM did not reach node');
  assert.ok(stopMs < SHUTDOWN.delayMs + SHUTDOWN.drainMs + 5000, 'stopped later than the delay and drain allow');

  // A repository mounted read-only hides the built-in one: the iris files served as "flowers".
  const repository = mkdtempSync(join(tmpdir(), 'containers-repository-'));
  cleanup.push(() => rmSync(repository, { recursive: true, force: true }));
  cpSync(join(ROOT, 'models', 'iris'), join(repository, 'flowers'), { recursive: true });
  // mkdtemp makes it private to root; the service reads it as uid 1000.
  chmodSync(repository, 0o755);
  const mountedPort = await freePort();
  const mounted = `${RUN_ID}-mounted`;
  cleanup.push(() => run('podman', ['rm', '-f', '-t', '0', mounted], { allowFailure: true }));
  podman(
    'run',
    '-d',
    '--name',
    mounted,
    ...HARDENED,
    '-p',
    `127.0.0.1:${mountedPort}:8080`,
    '-v',
    `${repository}:/app/models:ro`,
    '-e',
    'DEFAULT_MODEL=flowers',
    API_IMAGE,
  );
  await waitFor('/health/ready answering 200 (repository mounted)', ready(mountedPort), 60_000);
  const fromMount = await predict(mountedPort);
  assert.equal(fromMount.body.prediction, 'setosa');
  assert.equal(fromMount.body.model.name, 'flowers');
  podman('rm', '-f', '-t', '0', mounted);
  log('api image: ready and answering setosa from a repository mounted read-only');

  // k8s/model-volume/'s init container, run as written: it seeds an empty volume with the
  // built-in models (writable for uid 1000, as the pod's fsGroup makes it), then leaves it alone.
  const patch = parseYaml(readFileSync(join(ROOT, 'k8s', 'model-volume', 'deployment-patch.yaml'), 'utf8'));
  const [seed] = patch.find((op) => op.path === '/spec/template/spec/initContainers').value;
  const volume = mkdtempSync(join(tmpdir(), 'containers-volume-'));
  cleanup.push(() => rmSync(volume, { recursive: true, force: true }));
  chownSync(volume, 1000, 1000);
  const seedModels = () =>
    podman(
      'run',
      '--rm',
      ...HARDENED,
      '--user',
      '1000:1000',
      '-v',
      `${volume}:/models`,
      '--entrypoint',
      seed.command[0],
      API_IMAGE,
      ...seed.command.slice(1),
    );
  assert.equal(
    seedModels(),
    readdirSync(join(ROOT, 'models'))
      .map((model) => `seeded /models/${model}`)
      .join('\n'),
  );
  assert.equal(
    readFileSync(join(volume, 'iris', '1', 'weights.bin')).compare(readFileSync(join(ROOT, 'models', 'iris', '1', 'weights.bin'))),
    0,
  );
  assert.equal(seedModels(), '');
  assert.deepEqual(readdirSync(volume), readdirSync(join(ROOT, 'models')));
  log('k8s/model-volume/ init container: seeds an empty volume with the built-in models, and leaves a seeded one alone');

  // onnxruntime-node, installed without its install script and with one platform's library kept.
  const onnx = podman(
    'run',
    '--rm',
    ...HARDENED,
    '-e',
    'NODE_PATH=/app/node_modules',
    '-v',
    `${join(__dirname, 'onnx-check.js')}:/checks/onnx-check.js:ro`,
    API_IMAGE,
    'node',
    '/checks/onnx-check.js',
  );
  assert.match(onnx, /\(ok\)$/);
  log(`api image: ${onnx}`);
}

function checkNativeBackendOptIn() {
  const built = build(null, '.', ['--target', 'prod-deps', '--build-arg', 'WITH_TFJS_NODE=true']);
  const lines = built.output.split('\n').filter((line) => line.startsWith('WITH_TFJS_NODE=true:'));
  assert.equal(lines.length, 1, `expected one line about tfjs-node, got:\n${built.output.slice(-3000)}`);
  if (built.ok) {
    assert.match(lines[0], /installed/);
  } else {
    assert.match(lines[0], /could not be installed \(.+\); build without it/);
    // The install script's stack trace stays in its log.
    assert.doesNotMatch(built.output, /^\s+at .+:\d+:\d+\)?$/m);
  }
  log(`WITH_TFJS_NODE=true (${seconds(built.ms)}): build ${built.ok ? 'succeeded' : 'failed'} saying "${lines[0]}"`);
}

async function checkCompose(cleanup) {
  const built = build(NGINX_IMAGE, 'nginx');
  assert.ok(built.ok, `the nginx image did not build:\n${built.output.slice(-4000)}`);
  const version = run('podman', ['run', '--rm', NGINX_IMAGE, 'nginx', '-v'], { allowFailure: true });
  log(`nginx image ${NGINX_IMAGE}: built in ${seconds(built.ms)}; ${`${version.stdout}${version.stderr}`.trim()}`);

  // docker-compose talks to podman's Docker-compatible API on a socket of this run.
  const socket = join(mkdtempSync(join(tmpdir(), 'containers-api-')), 'podman.sock');
  const service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
  cleanup.push(() => service.kill('SIGTERM'));
  const port = await freePort();
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, HTTP_PORT: String(port), COMPOSE_PROJECT_NAME: RUN_ID };
  const dockerCompose = (...args) => run('docker-compose', ['-f', 'docker-compose.yml', ...args], { cwd: ROOT, env });
  await waitFor(
    'the podman API socket',
    () => spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'ps'], { cwd: ROOT, env }).status === 0,
    20_000,
  );
  cleanup.push(() => run('docker-compose', ['-f', 'docker-compose.yml', 'down', '-t', '30'], { cwd: ROOT, env, allowFailure: true }));

  // `up` waits for the api replicas to be healthy before it starts nginx (depends_on). With no
  // systemd, podman runs health checks only when asked: this loop asks, as a timer would.
  const up = spawn('docker-compose', ['-f', 'docker-compose.yml', 'up', '-d', '--no-build'], { cwd: ROOT, env });
  let upOutput = '';
  up.stdout.on('data', (chunk) => (upOutput += chunk));
  up.stderr.on('data', (chunk) => (upOutput += chunk));
  const upDone = new Promise((resolve) => up.on('exit', resolve));
  let upCode = null;
  upDone.then((code) => (upCode = code));
  const started = Date.now();
  while (upCode === null) {
    if (Date.now() - started > 180_000) throw new Error(`docker-compose up did not finish in 180 s:\n${upOutput}`);
    for (const id of composeContainers(env, 'api')) run('podman', ['healthcheck', 'run', id], { allowFailure: true });
    await sleep(1000);
  }
  assert.equal(upCode, 0, `docker-compose up failed:\n${upOutput}`);
  const replicas = composeContainers(env, 'api');
  assert.equal(replicas.length, 3, `expected 3 api replicas, got ${replicas.length}`);
  assert.equal(composeContainers(env, 'nginx').length, 1);
  log(`compose: up in ${seconds(Date.now() - started)}, 3 api replicas healthy, nginx started`);

  const addresses = replicas
    .map((id) => podman('inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', id))
    .sort();
  const resolved = JSON.parse(
    podman(
      'exec',
      replicas[0],
      'node',
      '-e',
      "require('node:dns').promises.lookup('api', { all: true }).then((a) => console.log(JSON.stringify(a.map((x) => x.address))))",
    ),
  ).sort();
  assert.deepEqual(resolved, addresses);
  log(`compose: "api" resolves to every replica: ${resolved.join(', ')}`);

  const answer = await predict(port);
  assert.equal(answer.status, 200);
  assert.equal(answer.body.prediction, 'setosa');

  // Load through nginx; one replica killed a third of the way in.
  const victim = replicas[1];
  const load = await loadWhile(port, 9000, 8, async () => {
    await sleep(3000);
    podman('kill', '--signal', 'KILL', victim);
    log('compose: one api replica killed (SIGKILL) under load');
  });
  log(
    `compose: ${load.total} requests through nginx in ${seconds(load.ms)} (paced at ${LOAD_RATE}/s, the per-client limit is ${PER_CLIENT_RATE}/s), ${load.failures.length} failed`,
  );
  assert.ok(load.total > 100, 'too few requests to tell anything');
  assert.deepEqual(load.failures.slice(0, 5), []);
  // nginx's access log names the replica(s) each request went to: the killed one was serving,
  // and the requests it dropped were answered by another ("a, b" when nginx tried two).
  const victimAddress = addresses[replicas.indexOf(victim)];
  const upstreams = podman('logs', composeContainers(env, 'nginx')[0])
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line).upstream);
  const servedByVictim = upstreams.filter((upstream) => upstream === `${victimAddress}:8080`).length;
  const retried = upstreams.filter((upstream) => upstream.includes(',')).length;
  const restarts = podman('inspect', '--format', '{{.RestartCount}}', victim);
  log(
    `compose: the killed replica's address answered ${servedByVictim} of them (restarts by its restart policy: ${restarts}); nginx passed ${retried} on to another replica`,
  );
  assert.ok(servedByVictim > 0, `the killed replica (${victimAddress}) served nothing: ${JSON.stringify(upstreams.slice(-5))}`);
  dockerCompose('down', '-t', '30');
  log('compose: down');
}

/** Ids of the running containers of a compose service. */
function composeContainers(env, service) {
  const result = run('docker-compose', ['-f', 'docker-compose.yml', 'ps', '-q', service], { cwd: ROOT, env, allowFailure: true });
  return result.status === 0 ? result.stdout.split('\n').filter(Boolean) : [];
}

// nginx limits each client address (limit_req ... rate=N r/s); every request of this load comes
// from one address, so it is paced below that limit: the check is about failover, and a 429
// from the limit would be a failure of the test, not of the service.
const PER_CLIENT_RATE = Number(/limit_req_zone .*rate=(\d+)r\/s/.exec(readFileSync(join(ROOT, 'nginx', 'nginx.conf'), 'utf8'))[1]);
const LOAD_RATE = Math.floor(PER_CLIENT_RATE * 0.6);

/** `connections` clients posting predictions, LOAD_RATE a second between them, for `durationMs`, while `during` runs. */
async function loadWhile(port, durationMs, connections, during) {
  const started = Date.now();
  const deadline = started + durationMs;
  const failures = [];
  let total = 0;
  let next = 0;
  const client = async () => {
    for (;;) {
      const due = started + (next++ * 1000) / LOAD_RATE;
      if (due >= deadline) return;
      if (due > Date.now()) await sleep(due - Date.now());
      try {
        const { status, body } = await predict(port);
        if (status !== 200 || body.prediction !== 'setosa') failures.push(`${status} ${JSON.stringify(body)}`);
      } catch (error) {
        failures.push(String(error.cause ?? error));
      }
      total++;
    }
  };
  await Promise.all([...Array.from({ length: connections }, client), during()]);
  return { total, failures, ms: Date.now() - started };
}

async function main() {
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    const message = `container checks cannot run: ${missing.join('; ')}`;
    if (process.env.CI === 'true') throw new Error(`${message} (required under CI=true)`);
    log(`SKIPPED: ${message}`);
    return;
  }
  const started = Date.now();
  const cleanup = [];
  try {
    await checkApiImage(cleanup);
    checkNativeBackendOptIn();
    await checkCompose(cleanup);
  } finally {
    for (const step of cleanup.reverse()) {
      try {
        await step();
      } catch (error) {
        log(`cleanup: ${error.message}`);
      }
    }
  }
  log(`all container checks passed in ${seconds(Date.now() - started)}`);
}

main().catch((error) => {
  process.stderr.write(`[containers] FAILED: ${error.stack ?? error}\n`);
  process.exit(1);
});
