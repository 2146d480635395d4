import { spawnSync } from 'node:child_process';

/** Debian's interpreter: python3-onnx and python3-numpy install into it, not into pyenv's. */
export const ONNX_PYTHON = '/usr/bin/python3';

/** The packages test/fixtures/onnx_models.py imports. */
const PROBE = 'import onnx, numpy';

/**
 * Whether tests that build ONNX models with Python run: they skip (with a message) where
 * /usr/bin/python3 or its onnx package is missing, except under CI, where that is a failure.
 */
export function onnxPythonAvailable(): boolean {
  const probe = spawnSync(ONNX_PYTHON, ['-c', PROBE], { encoding: 'utf8' });
  if (!probe.error && probe.status === 0) return true;
  const problem = probe.error
    ? `${ONNX_PYTHON} cannot run (${probe.error.message})`
    : `${ONNX_PYTHON} cannot import onnx and numpy (${probe.stderr.trim().split('\n').pop()})`;
  const remedy = 'apt-get install python3-onnx python3-numpy';
  if (process.env.CI === 'true') throw new Error(`${problem}, and CI must run the ONNX model tests (${remedy})`);
  process.stderr.write(`${problem}: skipping the tests that build ONNX models (${remedy} to run them)\n`);
  return false;
}
