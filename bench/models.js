'use strict';
// The benchmarks' heavier models, with random weights, both taking 784 values per row (a 28x28
// image): a dense network 784-512-512-10, and LeNet-5, the classic small CNN.
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

module.exports = { INPUTS, MLP_WIDTH, writeModel, writeMlp };
