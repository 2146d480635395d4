#!/usr/bin/env node
'use strict';
// What a batch costs each runtime, with no HTTP around it: `node bench/batch-cost.js` (after
// `npm run build`). Writes the benchmark's two networks (bench/models.js) and their ONNX copies
// with the same weights, then times, in this one process, TF.js's predict on the WASM backend and
// OnnxModel.infer on ONNX Runtime (on the event loop, one intra-op thread: no thread hand-off in
// the figure) at 1, 16 and 64 rows. The ratio of the time per row alone to the time per row in a
// batch is the most dynamic batching can give a model, were HTTP free.
//
// Knobs (environment): RUNS (200 timed calls per row count, after 20 to warm up).
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { INPUTS, onnxModelName, writeModel, writeOnnxModel } = require('./models.js');

const ROOT = join(__dirname, '..');
const RUNS = Number(process.env.RUNS ?? 200);
const WARMUP_RUNS = 20;
const ROW_COUNTS = [1, 16, 64];

async function timePerCall(call) {
  for (let i = 0; i < WARMUP_RUNS; i++) await call();
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) await call();
  return (performance.now() - started) / RUNS;
}

async function main() {
  const tf = require(join(ROOT, 'dist', 'model', 'tfjs.js'));
  require('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend('wasm');
  tf.enableProdMode();
  const { readModelArtifacts } = require(join(ROOT, 'dist', 'model', 'model-artifacts.js'));
  const { OnnxModel } = require(join(ROOT, 'dist', 'model', 'onnx', 'onnx-model.js'));
  const { OnnxRuntime } = require(join(ROOT, 'dist', 'model', 'onnx', 'onnx-runtime.js'));
  const work = mkdtempSync(join(tmpdir(), 'batch-cost-'));
  const lines = ['| model | runtime | rows | ms per call | ms per row | gain per row against 1 row |', '|---|---|---:|---:|---:|---:|'];
  try {
    for (const kind of Object.keys(INPUTS)) {
      const { name, rowShape } = INPUTS[kind];
      const tfjsDir = join(work, kind, '1');
      const onnxDir = join(work, onnxModelName(kind), '1');
      writeModel(kind, tfjsDir);
      writeOnnxModel(kind, tfjsDir, onnxDir);
      const layers = await tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(tfjsDir)));
      const onnx = await OnnxModel.load(new OnnxRuntime({ execution: 'event-loop', intraOpThreads: 1 }), onnxDir);
      const runtimes = {
        'TF.js WASM': (rows, data) => async () => {
          const output = tf.tidy(() => layers.predict(tf.tensor(data, [rows, ...rowShape])));
          await output.data();
          output.dispose();
        },
        'ONNX Runtime': (rows, data) => () => onnx.infer({ [name]: { dtype: 'float32', shape: [rows, ...rowShape], data } }),
      };
      for (const [runtime, callOf] of Object.entries(runtimes)) {
        let single;
        for (const rows of ROW_COUNTS) {
          const data = new Float32Array(rows * rowShape.reduce((a, b) => a * b, 1)).fill(0.3);
          const ms = await timePerCall(callOf(rows, data));
          single ??= ms;
          lines.push(
            `| ${kind} | ${runtime} | ${rows} | ${ms.toFixed(3)} | ${(ms / rows).toFixed(3)} | ${(single / (ms / rows)).toFixed(1)} |`,
          );
        }
      }
      layers.dispose();
      await onnx.dispose();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
