'use strict';
// The benchmarks' heavier models, with random weights, both taking 784 values per row (a 28x28
// image): a dense network 784-512-512-10, and LeNet-5, the classic small CNN. Each can also be
// written as ONNX, from the weights of its TF.js version, for ONNX Runtime beside TF.js.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const MLP_WIDTH = 784;

const LAYERS = {
  mlp: `[
    tf.layers.dense({ name: 'hidden1', inputShape: [${MLP_WIDTH}], units: 512, activation: 'relu' }),
    tf.layers.dense({ name: 'hidden2', units: 512, activation: 'relu' }),
    tf.layers.dense({ name: 'scores', units: 10, activation: 'softmax' }),
  ]`,
  cnn: `[
    tf.layers.conv2d({ name: 'conv1', inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
    tf.layers.conv2d({ name: 'conv2', filters: 16, kernelSize: 5, activation: 'relu' }),
    tf.layers.maxPooling2d({ name: 'pool2', poolSize: 2 }),
    tf.layers.flatten({ name: 'flatten' }),
    tf.layers.dense({ name: 'fc1', units: 120, activation: 'relu' }),
    tf.layers.dense({ name: 'fc2', units: 84, activation: 'relu' }),
    tf.layers.dense({ name: 'scores', units: 10, activation: 'softmax' }),
  ]`,
};

/** The input of each model as the V2 protocol names it, and the shape of one row. */
const INPUTS = {
  mlp: { name: 'hidden1_input', rowShape: [MLP_WIDTH] },
  cnn: { name: 'conv1_input', rowShape: [28, 28, 1] },
};

/** Saves model `kind` into `directory` (a version folder) with the service's save handler. */
function writeModel(kind, directory) {
  // In a child process, so that the caller does not load TF.js.
  const script = `
    const tf = require(${JSON.stringify(join(ROOT, 'dist', 'model', 'tfjs.js'))});
    tf.enableProdMode();
    const { directorySaveHandler } = require(${JSON.stringify(join(ROOT, 'dist', 'model', 'model-artifacts.js'))});
    const model = tf.sequential({ layers: ${LAYERS[kind]} });
    model.save(directorySaveHandler(${JSON.stringify(directory)})).then(() => process.exit(0));`;
  execFileSync(process.execPath, ['-e', script], { cwd: ROOT, stdio: 'inherit' });
}

const writeMlp = (directory) => writeModel('mlp', directory);

/** Debian's interpreter, which has python3-onnx and python3-numpy. */
const PYTHON = '/usr/bin/python3';
/** The ONNX model's output, as the V2 protocol names it. */
const ONNX_OUTPUT = 'scores';
/** Largest difference allowed between the two runtimes' softmax outputs (float32 arithmetic in another order). */
const AGREEMENT_TOLERANCE = 1e-5;
const AGREEMENT_ROWS = 64;

/** The name of the ONNX copy of model `kind` in the repository, beside the TF.js one. */
const onnxModelName = (kind) => `${kind}-onnx`;

/**
 * Writes model `kind` as ONNX into `onnxDirectory` (a version folder), from the TF.js version
 * already in `tfjsDirectory`: the very same weights. Then runs both on the same random rows and
 * throws unless they agree within AGREEMENT_TOLERANCE; returns the largest difference.
 */
function writeOnnxModel(kind, tfjsDirectory, onnxDirectory) {
  const { name } = INPUTS[kind];
  execFileSync(PYTHON, [join(__dirname, 'tfjs_to_onnx.py'), tfjsDirectory, onnxDirectory, name, ONNX_OUTPUT], { stdio: 'inherit' });
  return checkOnnxAgreement(kind, tfjsDirectory, onnxDirectory);
}

/** The largest difference between the TF.js and ONNX versions' outputs on the same rows. */
function checkOnnxAgreement(kind, tfjsDirectory, onnxDirectory, rows = AGREEMENT_ROWS) {
  const { name, rowShape } = INPUTS[kind];
  // In a child process, so that the caller loads neither runtime.
  const script = `
    const tf = require(${JSON.stringify(join(ROOT, 'dist', 'model', 'tfjs.js'))});
    tf.enableProdMode();
    const ort = require('onnxruntime-node');
    const { readModelArtifacts } = require(${JSON.stringify(join(ROOT, 'dist', 'model', 'model-artifacts.js'))});
    (async () => {
      await tf.setBackend('cpu');
      const shape = [${rows}, ...${JSON.stringify(rowShape)}];
      const size = shape.reduce((a, b) => a * b, 1);
      // A fixed linear congruential sequence: the same rows on every run.
      let seed = 15;
      const data = Float32Array.from({ length: size }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31));
      const model = await tf.loadLayersModel(tf.io.fromMemory(await readModelArtifacts(${JSON.stringify(tfjsDirectory)})));
      const expected = model.predict(tf.tensor(data, shape)).dataSync();
      const session = await ort.InferenceSession.create(${JSON.stringify(join(onnxDirectory, 'model.onnx'))});
      const actual = (await session.run({ ${JSON.stringify(name)}: new ort.Tensor('float32', data, shape) }))[${JSON.stringify(ONNX_OUTPUT)}].data;
      if (actual.length !== expected.length) throw new Error('outputs differ in size: ' + actual.length + ' and ' + expected.length);
      let largest = 0;
      for (let i = 0; i < actual.length; i++) largest = Math.max(largest, Math.abs(actual[i] - expected[i]));
      await session.release();
      console.log(JSON.stringify({ largest }));
    })().catch((error) => { console.error(error); process.exit(1); });`;
  const output = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
  const { largest } = JSON.parse(output.trim().split('\n').pop());
  if (!(largest <= AGREEMENT_TOLERANCE)) {
    throw new Error(`${kind}: the ONNX and TF.js versions differ by ${largest} (more than ${AGREEMENT_TOLERANCE})`);
  }
  return largest;
}

module.exports = { INPUTS, MLP_WIDTH, writeModel, writeMlp, onnxModelName, writeOnnxModel, checkOnnxAgreement };
