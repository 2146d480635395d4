import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BuiltOnnxModel,
  buildOnnxModels,
  IRIS_SKLEARN_VERSION,
  readIrisExpectations,
  REFUSED_KINDS,
  RUNNABLE_KINDS,
  writeZipMapVersion,
} from '../../../test/fixtures/onnx-models';
import { onnxPythonAvailable } from '../../../test/support/onnx-python';
import type { OnnxExecution } from '../../config/environment';
import { InvalidInputError, ModelFormatError, ModelNotReadyError } from '../model-errors';
import type { HostTensor, NamedTensors } from '../model-types';
import { checkInputs } from '../signature';
import { MODEL_ONNX, OnnxModel, readableOrtMessage } from './onnx-model';
import { OnnxRuntime } from './onnx-runtime';
import { typeTag } from './onnx-tensors';

const EXECUTIONS: readonly OnnxExecution[] = ['event-loop', 'worker'];
/** float32 outputs against numpy's float32 or float64 arithmetic. */
const FLOAT32_TOLERANCE = 1e-5;
/** ONNX Runtime computes in float32 where scikit-learn computes in float64. */
const PROBABILITY_TOLERANCE = 1e-5;
const IRIS_CLASSES = 3;

/** One model per data representation the worker must carry: float32, BigInt, string[], bytes, bits. */
const WORKER_KINDS = ['mlp', 'multi-io', 'int64', 'string', 'bool', 'dtype-float16', 'dtype-uint64'] as const;

const describeWithOnnxPython = onnxPythonAvailable() ? describe : describe.skip;

function irisInput(rows: number[][]): NamedTensors {
  return { float_input: { dtype: 'float32', shape: [rows.length, 4], data: Float32Array.from(rows.flat()) } };
}

function expectTensor(actual: HostTensor, expected: HostTensor, name: string): void {
  expect({ name, dtype: actual.dtype, shape: actual.shape }).toEqual({ name, dtype: expected.dtype, shape: expected.shape });
  expect(typeTag(actual.data)).toBe(typeTag(expected.data));
  if (expected.dtype === 'float32') {
    const got = Array.from(actual.data as Float32Array);
    Array.from(expected.data as Float32Array).forEach((value, i) =>
      expect(Math.abs(got[i] - value)).toBeLessThanOrEqual(FLOAT32_TOLERANCE),
    );
  } else {
    expect(Array.from(actual.data as ArrayLike<unknown>)).toEqual(Array.from(expected.data as ArrayLike<unknown>));
  }
}

async function expectRunsAsBuilt(runtime: OnnxRuntime, model: BuiltOnnxModel): Promise<void> {
  const loaded = await OnnxModel.load(runtime, model.directory);
  try {
    expect(loaded.description.signature).toEqual(model.signature);
    checkInputs(loaded.description.signature, model.samples!);
    const outputs = await loaded.infer(model.samples!);
    expect(Object.keys(outputs)).toEqual(Object.keys(model.expected!));
    for (const [name, expected] of Object.entries(model.expected!)) expectTensor(outputs[name], expected, name);
  } finally {
    await loaded.dispose();
  }
}

describe(OnnxModel.name, () => {
  describe('the shipped iris-sklearn model', () => {
    it.each(EXECUTIONS)("reproduces scikit-learn's predict and predict_proba on all 150 iris rows (%s)", async (execution) => {
      const expected = readIrisExpectations();
      const runtime = new OnnxRuntime({ execution });
      const model = await OnnxModel.load(runtime, IRIS_SKLEARN_VERSION);
      try {
        const outputs = await model.infer(irisInput(expected.rows));

        const labels = Array.from(outputs.output_label.data as BigInt64Array, Number);
        expect(labels).toEqual(expected.predict);
        const probabilities = outputs.output_probability.data as Float32Array;
        expect(outputs.output_probability.shape).toEqual([expected.rows.length, IRIS_CLASSES]);
        expected.predict_proba.flat().forEach((p, i) => expect(Math.abs(probabilities[i] - p)).toBeLessThanOrEqual(PROBABILITY_TOLERANCE));
      } finally {
        await model.dispose();
      }
    });

    it('declares the signature skl2onnx gives a classifier without ZipMap, with its metadata', async () => {
      const runtime = new OnnxRuntime({ execution: 'event-loop' });
      const model = await OnnxModel.load(runtime, IRIS_SKLEARN_VERSION);
      await model.dispose();

      expect(model.description.format).toBe('onnx');
      expect(model.description.platform).toBe('onnxruntime_onnx');
      expect(model.description.signature).toEqual({
        inputs: [{ name: 'float_input', dtype: 'float32', shape: [-1, 4] }],
        outputs: [
          { name: 'output_label', dtype: 'int64', shape: [-1] },
          { name: 'output_probability', dtype: 'float32', shape: [-1, IRIS_CLASSES] },
        ],
      });
      expect(model.description.metadata.labels).toEqual(['setosa', 'versicolor', 'virginica']);
      expect(model.description.metadata.features).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
    });

    it("refuses skl2onnx's default export, whose ZipMap output is a sequence of maps, saying how to export without it", async () => {
      const dir = await mkdtemp(join(tmpdir(), 'onnx-zipmap-'));
      try {
        const runtime = new OnnxRuntime({ execution: 'event-loop' });
        const load = OnnxModel.load(runtime, await writeZipMapVersion(join(dir, '1')));

        await expect(load).rejects.toThrow(ModelFormatError);
        await expect(load).rejects.toThrow(/output "output_probability" is not a tensor.*options=\{"zipmap": False\}/);
        expect(runtime.openSessions).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a version folder without a usable model.onnx', () => {
    let dir: string;
    const runtime = new OnnxRuntime({ execution: 'event-loop' });

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'onnx-folder-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses a folder with no model.onnx', async () => {
      await expect(OnnxModel.load(runtime, dir)).rejects.toThrow(`cannot read ${MODEL_ONNX}: ENOENT`);
    });

    it('refuses an empty model.onnx before ONNX Runtime reads it', async () => {
      await writeFile(join(dir, MODEL_ONNX), '');
      await expect(OnnxModel.load(runtime, dir)).rejects.toThrow(`${MODEL_ONNX} is empty`);
    });

    it('refuses a malformed metadata.json', async () => {
      await writeFile(join(dir, 'metadata.json'), '{"labels": ');
      await expect(OnnxModel.load(runtime, dir)).rejects.toThrow(/metadata.json is not valid JSON/);
    });
  });

  describeWithOnnxPython('models built by the test builder', () => {
    let dir: string;
    let built: Record<(typeof RUNNABLE_KINDS)[number] | (typeof REFUSED_KINDS)[number], BuiltOnnxModel>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'onnx-models-'));
      built = buildOnnxModels(dir, [...RUNNABLE_KINDS, ...REFUSED_KINDS]);
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    describe('on the event loop', () => {
      const runtime = new OnnxRuntime({ execution: 'event-loop' });
      afterAll(() => expect(runtime.openSessions).toBe(0));

      it.each(RUNNABLE_KINDS)('%s: takes its signature from the model and gives the outputs numpy computes', async (kind) => {
        await expectRunsAsBuilt(runtime, built[kind]);
      });
    });

    describe('in a worker thread', () => {
      const runtime = new OnnxRuntime({ execution: 'worker' });
      afterAll(() => expect(runtime.openSessions).toBe(0));

      it.each(WORKER_KINDS)('%s: carries its inputs and outputs across the thread unchanged', async (kind) => {
        await expectRunsAsBuilt(runtime, built[kind]);
      });

      it('refuses a model ONNX Runtime cannot parse, and ends its worker', async () => {
        await expect(OnnxModel.load(runtime, built.corrupt.directory)).rejects.toThrow(
          `ONNX Runtime cannot load ${MODEL_ONNX}: Protobuf parsing failed.`,
        );
        expect(runtime.openSessions).toBe(0);
      });
    });

    describe.each(EXECUTIONS)('refusals (%s)', (execution) => {
      const runtime = new OnnxRuntime({ execution });
      const REASONS: Record<(typeof REFUSED_KINDS)[number], RegExp> = {
        corrupt: /^ONNX Runtime cannot load model\.onnx: Protobuf parsing failed\.$/,
        truncated: /^ONNX Runtime cannot load model\.onnx: Protobuf parsing failed\.$/,
        empty: /^model\.onnx is empty$/,
        'unsupported-operator': /^ONNX Runtime cannot load model\.onnx: .*No Op registered for NoSuchOperator with domain_version of 17$/,
        'unsupported-opset':
          /^ONNX Runtime cannot load model\.onnx: ONNX Runtime only \*guarantees\* support .*Opset 99 is under development/,
        'sequence-output': /^output "pieces" is not a tensor but a sequence or a map/,
        'sequence-input': /^input "pieces" is not a tensor but a sequence or a map, which no protocol can send$/,
      };

      it.each(REFUSED_KINDS)('refuses %s with the reason', async (kind) => {
        const load = OnnxModel.load(runtime, built[kind].directory);
        await expect(load).rejects.toThrow(ModelFormatError);
        await expect(load).rejects.toThrow(REASONS[kind]);
        expect(runtime.openSessions).toBe(0);
      });
    });

    describe('checkInputs on the signature ONNX Runtime gives', () => {
      const runtime = new OnnxRuntime({ execution: 'event-loop' });
      const row = (width: number): HostTensor => ({ dtype: 'float32', shape: [1, width], data: new Float32Array(width) });
      let mlp: OnnxModel;
      let fixed: OnnxModel;

      beforeAll(async () => {
        mlp = await OnnxModel.load(runtime, built.mlp.directory);
        fixed = await OnnxModel.load(runtime, built['fixed-batch'].directory);
      });
      afterAll(async () => {
        await Promise.all([mlp.dispose(), fixed.dispose()]);
      });

      it('accepts a batch of any size along a symbolic first dimension', () => {
        expect(() =>
          checkInputs(mlp.description.signature, { x: { dtype: 'float32', shape: [5, 8], data: new Float32Array(40) } }),
        ).not.toThrow();
      });

      it('refuses a row of the wrong width, naming the input', () => {
        expect(() => checkInputs(mlp.description.signature, { x: row(7) })).toThrow(
          new InvalidInputError('x: has shape [1,7]; the model expects [-1,8] (-1 is any size)'),
        );
      });

      it('refuses an input of the wrong dtype', () => {
        const doubles: HostTensor = { dtype: 'float64', shape: [1, 8], data: new Float64Array(8) };
        expect(() => checkInputs(mlp.description.signature, { x: doubles })).toThrow('x: has dtype float64; the model expects float32');
      });

      it('refuses an unknown input and a missing one', () => {
        expect(() => checkInputs(mlp.description.signature, { x: row(8), y: row(8) })).toThrow(
          'y: is not an input of this model; inputs are x',
        );
        expect(() => checkInputs(mlp.description.signature, {})).toThrow('x: is missing');
      });

      it('refuses values that do not fill the shape', () => {
        expect(() => checkInputs(mlp.description.signature, { x: { dtype: 'float32', shape: [2, 8], data: new Float32Array(8) } })).toThrow(
          'x: holds 8 values but its shape [2,8] needs 16',
        );
      });

      it('refuses a batch of two for a model whose first dimension is fixed at 1', () => {
        expect(() =>
          checkInputs(fixed.description.signature, { x: { dtype: 'float32', shape: [2, 4], data: new Float32Array(8) } }),
        ).toThrow('x: has shape [2,4]; the model expects [1,4] (-1 is any size)');
      });
    });

    it.each(EXECUTIONS)('refuses to infer once disposed, and releases its session (%s)', async (execution) => {
      const runtime = new OnnxRuntime({ execution });
      const model = await OnnxModel.load(runtime, built.mlp.directory);
      expect(runtime.openSessions).toBe(1);

      const released = model.dispose();

      await expect(model.infer(built.mlp.samples!)).rejects.toThrow(ModelNotReadyError);
      await released;
      expect(runtime.openSessions).toBe(0);
    });

    it.each(EXECUTIONS)('finishes an inference already started when disposed (%s)', async (execution) => {
      const runtime = new OnnxRuntime({ execution });
      const model = await OnnxModel.load(runtime, built.mlp.directory);

      const running = model.infer(built.mlp.samples!);
      const released = model.dispose();

      expectTensor((await running).probs, built.mlp.expected!.probs, 'probs');
      await released;
      expect(runtime.openSessions).toBe(0);
    });
  });
});

describe(readableOrtMessage.name, () => {
  it('drops the model path, the source location and the C++ signature', () => {
    const message =
      'Load model from /models/x/1/model.onnx failed:/onnxruntime_src/onnxruntime/core/graph/model.cc:202 ' +
      'onnxruntime::Model::Model(onnx::ModelProto&&, const onnxruntime::PathString&, const onnxruntime::ModelOptions&) ' +
      'Unsupported model IR version: 99, max supported IR version: 13\n';
    expect(readableOrtMessage(message)).toBe('Unsupported model IR version: 99, max supported IR version: 13');
  });

  it('drops a signature with a return type and nested template arguments', () => {
    const message =
      'Load model from m.onnx failed:/onnxruntime_src/onnxruntime/core/graph/model_load_utils.h:46 void ' +
      'onnxruntime::model_load_utils::ValidateOpsetForDomain(const std::unordered_map<std::__cxx11::basic_string<char>, int>&, bool) ' +
      'Opset 99 is under development.';
    expect(readableOrtMessage(message)).toBe('Opset 99 is under development.');
  });

  it('keeps a message that names no source location as it is', () => {
    expect(readableOrtMessage('Load model from /m/model.onnx failed:Protobuf parsing failed.')).toBe('Protobuf parsing failed.');
  });

  it('keeps the text before a source location', () => {
    const message =
      'Exception during initialization: /onnxruntime_src/onnxruntime/core/providers/cpu/ml/linearclassifier.cc:78 ' +
      'onnxruntime::ml::LinearClassifier::LinearClassifier(const onnxruntime::OpKernelInfo&) LinearClassifier: classlabels_ints has 1 elements.';
    expect(readableOrtMessage(message)).toBe('Exception during initialization: LinearClassifier: classlabels_ints has 1 elements.');
  });
});
