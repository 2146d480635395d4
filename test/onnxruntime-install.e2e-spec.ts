/**
 * onnxruntime-node is installed from the npm registry alone: its install script, which would
 * download CUDA libraries, is denied in package.json (allowScripts). These check that what the
 * package ships is enough to run a model on the CPU here, on the Node version of the run.
 * test/containers/run.js runs the same model inside the image, where only this platform's
 * libraries are kept.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { addModel } = require('./containers/onnx-check.js') as { addModel: () => Buffer };

const CHECK = join(__dirname, 'containers', 'onnx-check.js');

describe('onnxruntime-node, installed without its install script', () => {
  it('runs a model on the CPU: z = x + y', () => {
    // In a process of its own: the native addon makes its output arrays in Node's own realm,
    // which jest's sandbox does not share, so onnxruntime-common's instanceof checks refuse
    // them there ("A float32 tensor's data must be type of function Float32Array()").
    const output = execFileSync(process.execPath, [CHECK], { encoding: 'utf8', timeout: 60_000 });

    expect(output.trim()).toBe(`onnxruntime-node on node ${process.version} ${process.platform}/${process.arch}: z = [1.5,0,13] (ok)`);
  });

  it('refuses bytes that are not an ONNX model (the check can fail)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const model = addModel();

    await expect(ort.InferenceSession.create(model.subarray(0, model.length - 7))).rejects.toThrow();
  });

  it('has no CUDA libraries: the download was skipped', () => {
    const binaries = join(dirname(require.resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
    expect(existsSync(binaries)).toBe(true);
    expect(readdirSync(binaries).filter((file) => /cuda|tensorrt/i.test(file))).toEqual([]);
  });
});
