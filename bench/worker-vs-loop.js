#!/usr/bin/env node
'use strict';
// Does running the batched predict in a worker thread beat running it on the event loop, on
// this machine? Both variants are the same small server: Fastify, one model, requests merged
// while a batch runs (as the service's batcher does), one batch at a time. Only where predict
// runs differs. Loaded with wrk at several connection counts; prints req/s and latency.
//
// usage: npm run build && node bench/worker-vs-loop.js   (DURATION=10 CONNS="1 8 32 64")
const { spawn } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const ROOT = join(__dirname, '..');
const { MLP_WIDTH: WIDTH, writeMlp } = require('./models.js');
const { luaPost, wrk } = require('./wrk.js');

/** Loads the model folder with the service's own reader, on the WASM backend. */
async function loadModel(directory) {
  const tf = require(join(ROOT, 'dist', 'model', 'tfjs.js'));
  require('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  tf.enableProdMode();
  const { readModelArtifacts } = require(join(ROOT, 'dist', 'model', 'model-artifacts.js'));
  const model = await tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(directory)));
  const predict = (rows, data) => tf.tidy(() => model.predict(tf.tensor2d(data, [rows, WIDTH])).dataSync());
  predict(1, new Float32Array(WIDTH));
  return predict;
}

if (!isMainThread) {
  // The worker: predicts each batch it is sent and sends the outputs back (transferred).
  loadModel(workerData.directory).then((predict) => {
    parentPort.on('message', ({ id, rows, data }) => {
      const out = Float32Array.from(predict(rows, data));
      parentPort.postMessage({ id, out }, [out.buffer]);
    });
    parentPort.postMessage({ ready: true });
  });
} else if (process.argv[2] === 'serve') {
  serve(process.argv[3], Number(process.argv[4]), process.argv[5]);
} else {
  main();
}

async function serve(mode, port, directory) {
  let run;
  if (mode === 'worker') {
    const worker = new Worker(__filename, { workerData: { directory } });
    await new Promise((resolve) => worker.once('message', resolve));
    const pending = new Map();
    let next = 0;
    worker.on('message', ({ id, out }) => {
      pending.get(id)(out);
      pending.delete(id);
    });
    run = (rows, data) =>
      new Promise((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        worker.postMessage({ id, rows, data }, [data.buffer]);
      });
  } else {
    const predict = await loadModel(directory);
    run = async (rows, data) => predict(rows, data);
  }
  const queue = [];
  let running = false;
  const dispatch = async () => {
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.splice(0, 64);
    const data = new Float32Array(batch.length * WIDTH);
    batch.forEach((item, i) => data.set(item.row, i * WIDTH));
    const out = await run(batch.length, data);
    const width = out.length / batch.length;
    batch.forEach((item, i) => item.resolve(Array.from(out.subarray(i * width, (i + 1) * width))));
    running = false;
    setImmediate(dispatch);
  };
  const fastify = require('fastify')({ logger: false });
  fastify.post(
    '/infer',
    (request) =>
      new Promise((resolve) => {
        queue.push({ row: request.body.data, resolve: (scores) => resolve({ scores }) });
        setImmediate(dispatch);
      }),
  );
  await fastify.listen({ host: '127.0.0.1', port });
  process.stdout.write('ready\n');
}

async function main() {
  const duration = Number(process.env.DURATION ?? 10);
  const conns = (process.env.CONNS ?? '1 8 32 64').split(/\s+/).map(Number);
  const work = mkdtempSync(join(tmpdir(), 'worker-vs-loop-'));
  const directory = join(work, 'mlp');
  writeMlp(directory);
  const body = JSON.stringify({ data: Array.from({ length: WIDTH }, (_, i) => (i % 255) / 255) });
  const script = luaPost(work, 'post', '/infer', body);
  const rows = [];
  let port = 18500;
  for (const mode of ['loop', 'worker']) {
    const child = spawn(process.execPath, [__filename, 'serve', mode, String(++port), directory], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    for (const c of conns) {
      wrk(`http://127.0.0.1:${port}/infer`, script, c, 2);
      const r = wrk(`http://127.0.0.1:${port}/infer`, script, c, duration);
      rows.push(`| ${mode} | ${c} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.non2xx + r.errors} |`);
      process.stderr.write(`${rows[rows.length - 1]}\n`);
    }
    child.kill('SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
  process.stdout.write(
    `\n| predict runs on | conns | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|\n${rows.join('\n')}\n`,
  );
}
