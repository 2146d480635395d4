import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuiltOnnxModel, buildOnnxModels, IRIS_SKLEARN_VERSION } from '../../../test/fixtures/onnx-models';
import { onnxPythonAvailable } from '../../../test/support/onnx-python';
import { findOnnxIncompleteness } from './onnx-file';
import { MODEL_ONNX } from './onnx-model';

const describeWithOnnxPython = onnxPythonAvailable() ? describe : describe.skip;
/**
 * The fields after a model's graph (one opset import here, a few bytes) are small: a copy cut
 * inside the graph, or anywhere before it, ends at least this far from the end of the file.
 */
const TAIL_BYTES = 32;

describe(findOnnxIncompleteness.name, () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'onnx-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the shipped iris-sklearn model whole', async () => {
    expect(await findOnnxIncompleteness(IRIS_SKLEARN_VERSION)).toBeNull();
  });

  it('says when model.onnx is missing or empty', async () => {
    expect(await findOnnxIncompleteness(dir)).toBe(`cannot read ${MODEL_ONNX}: ENOENT`);
    await writeFile(join(dir, MODEL_ONNX), '');
    expect(await findOnnxIncompleteness(dir)).toBe(`${MODEL_ONNX} is empty`);
  });

  it('leaves a file that is not protobuf at all to ONNX Runtime to refuse', async () => {
    await writeFile(join(dir, MODEL_ONNX), '{"not": "a model"}');
    expect(await findOnnxIncompleteness(dir)).toBeNull();
  });

  it('says a copy of the iris-sklearn model cut short, anywhere up to its graph, is incomplete', async () => {
    const whole = await readFile(join(IRIS_SKLEARN_VERSION, MODEL_ONNX));
    const cuts = [1, 2, 7, Math.floor(whole.length / 3), Math.floor(whole.length / 2), whole.length - TAIL_BYTES, whole.length - 1];

    for (const length of cuts) {
      await writeFile(join(dir, MODEL_ONNX), whole.subarray(0, length));
      expect({ length, incomplete: await findOnnxIncompleteness(dir) }).toEqual({
        length,
        incomplete: expect.stringContaining(`${length} bytes`),
      });
    }
  });

  describeWithOnnxPython('on models built by the test builder', () => {
    let models: string;
    let built: Record<'mlp' | 'corrupt', BuiltOnnxModel>;

    beforeAll(async () => {
      models = await mkdtemp(join(tmpdir(), 'onnx-file-models-'));
      built = buildOnnxModels(models, ['mlp', 'corrupt']);
    });
    afterAll(async () => {
      await rm(models, { recursive: true, force: true });
    });

    it('finds every prefix of a model that ends before its last few bytes incomplete, and the whole file complete', async () => {
      const whole = await readFile(built.mlp.path);
      const missed: number[] = [];
      for (let length = 1; length <= whole.length - TAIL_BYTES; length++) {
        await writeFile(join(dir, MODEL_ONNX), whole.subarray(0, length));
        if ((await findOnnxIncompleteness(dir)) === null) missed.push(length);
      }
      await copyFile(built.mlp.path, join(dir, MODEL_ONNX));

      expect(missed).toEqual([]);
      expect(await findOnnxIncompleteness(dir)).toBeNull();
    });

    it('leaves a corrupt file to ONNX Runtime to refuse', async () => {
      expect(await findOnnxIncompleteness(built.corrupt.directory)).toBeNull();
    });
  });
});
