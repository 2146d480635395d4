'use strict';
// The benchmarks' heavier model: a 784-512-512-10 dense network with random weights.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const MLP_WIDTH = 784;

/** Saves the model into `directory` (a version folder) with the service's save handler. */
function writeMlp(directory) {
  // In a child process, so that the caller does not load TF.js.
  const script = `
    const tf = require('@tensorflow/tfjs');
    tf.enableProdMode();
    const { directorySaveHandler } = require(${JSON.stringify(join(ROOT, 'dist', 'model', 'model-artifacts.js'))});
    const model = tf.sequential({ layers: [
      tf.layers.dense({ name: 'hidden1', inputShape: [${MLP_WIDTH}], units: 512, activation: 'relu' }),
      tf.layers.dense({ name: 'hidden2', units: 512, activation: 'relu' }),
      tf.layers.dense({ name: 'scores', units: 10, activation: 'softmax' }),
    ] });
    model.save(directorySaveHandler(${JSON.stringify(directory)})).then(() => process.exit(0));`;
  execFileSync(process.execPath, ['-e', script], { cwd: ROOT, stdio: 'inherit' });
}

module.exports = { MLP_WIDTH, writeMlp };
