import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tfTypes from './tfjs';
import {
  BROKEN_MODEL_KINDS,
  BrokenModelKind,
  buildDenseLayersModel,
  DENSE_HIDDEN_LAYER,
  GraphModelOptions,
  saveLayersModel,
  writeBrokenModel,
  writeGraphModel,
  WrittenGraphModel,
} from '../../test/fixtures/model-builders';
import type { LoadedModel } from './loaded-model';
import { InvalidInputError, ModelFormatError } from './model-errors';
import { TfjsModelLoader } from './model-loader';
import { METADATA_JSON } from './model-metadata';
import type { HostTensor } from './model-types';
import { checkInputs } from './signature';
import { createTfjsRuntime, TfjsRuntime } from './tfjs-runtime';
import { errorFrom } from '../../test/support/errors';

const BACKEND = 'cpu';
const INPUT_WIDTH = 4;
const UNITS = 3;
const SEED = 7;
const BATCH = 5;
const FREE_DIM = -1;
const FLOAT32 = 'float32';
const INT32 = 'int32';
const GRAPH_TOLERANCE = 1e-6;
const LEAK_CALLS = 50;
const LABELS = ['setosa', 'versicolor', 'virginica'];
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** Deterministic, varied input rows: both signs, fractions, no two rows alike. */
function inputRows(rows: number, width: number, integers = false): number[] {
  return Array.from({ length: rows * width }, (_, i) => {
    const value = (((i * 5 + 3) % 13) - 6) / (integers ? 1 : 4);
    return integers ? Math.trunc(value) : value;
  });
}

function floatInput(rows: number, width: number): HostTensor {
  return { dtype: FLOAT32, shape: [rows, width], data: Float32Array.from(inputRows(rows, width)) };
}

/** The error `fn` throws or rejects with; fails the test if it does not. */

describe(TfjsModelLoader.name, () => {
  let runtime: TfjsRuntime;
  let tf: typeof tfTypes;
  let loader: TfjsModelLoader;
  let root: string;
  let folders = 0;
  const loaded: LoadedModel[] = [];

  /** A fresh, empty model folder under this suite's temp root. */
  const folder = (label: string): string => join(root, `${++folders}-${label}`);

  /** Loads through the loader under test and remembers the model, for disposal. */
  async function load(directory: string): Promise<LoadedModel> {
    const model = await loader.load(directory);
    loaded.push(model);
    return model;
  }

  async function graphModel(options: GraphModelOptions = {}): Promise<[LoadedModel, WrittenGraphModel]> {
    const directory = folder('graph');
    const written = await writeGraphModel(directory, options);
    return [await load(directory), written];
  }

  beforeAll(async () => {
    runtime = await createTfjsRuntime(BACKEND);
    tf = runtime.tf;
    loader = new TfjsModelLoader(runtime);
    root = await mkdtemp(join(tmpdir(), 'model-loader-spec-'));
  });

  afterAll(async () => {
    for (const model of loaded) model.dispose();
    if (root) await rm(root, { recursive: true, force: true });
  });

  describe('Layers models', () => {
    it('loads a Layers model saved with directorySaveHandler that gives exactly the outputs it gave before saving', async () => {
      const directory = folder('layers');
      const original = buildDenseLayersModel(tf, { inputWidth: INPUT_WIDTH, units: UNITS, seed: SEED });
      const input = floatInput(BATCH, INPUT_WIDTH);
      const expected = tf.tidy(() => {
        const output = original.predict(tf.tensor(input.data as Float32Array, input.shape, FLOAT32)) as tfTypes.Tensor;
        return output.dataSync() as Float32Array;
      });
      await saveLayersModel(tf, directory, original);
      original.dispose();

      const model = await load(directory);
      const outputs = await model.infer({ [model.description.signature.inputs[0].name]: input });
      const outputNames = model.description.signature.outputs.map((spec) => spec.name);

      expect(model.description.format).toBe('layers');
      expect(Object.keys(outputs)).toEqual(outputNames);
      const output = outputs[outputNames[0]];
      expect(output.dtype).toBe(FLOAT32);
      expect(output.shape).toEqual([BATCH, UNITS]);
      expect(output.data).toBeInstanceOf(Float32Array);
      expect(output.data).toEqual(expected);
    });

    it('gives a Layers model a signature with its input and output names, float32 and -1 for the batch dimension', async () => {
      const directory = folder('layers-signature');
      const original = buildDenseLayersModel(tf, { inputWidth: INPUT_WIDTH, units: UNITS, seed: SEED });
      // TF.js de-duplicates tensor names across the whole process (`hidden_input_3`); the
      // model's own names are the ones before that: `hidden_input`, `probs/probs`.
      const inputName = original.inputs[0].originalName;
      const outputName = original.outputs[0].originalName;
      await saveLayersModel(tf, directory, original);
      original.dispose();

      const model = await load(directory);

      expect(inputName).toBe(`${DENSE_HIDDEN_LAYER}_input`);
      expect(model.description.signature).toEqual({
        inputs: [{ name: inputName, dtype: FLOAT32, shape: [FREE_DIM, INPUT_WIDTH] }],
        outputs: [{ name: outputName, dtype: FLOAT32, shape: [FREE_DIM, UNITS] }],
      });
    });

    it('gives the same signature each time the same Layers model folder is loaded', async () => {
      const directory = folder('layers-reload');
      const original = buildDenseLayersModel(tf, { inputWidth: INPUT_WIDTH, units: UNITS, seed: SEED });
      await saveLayersModel(tf, directory, original);
      original.dispose();

      const first = await load(directory);
      const second = await load(directory);

      expect(second.description.signature).toEqual(first.description.signature);
    });
  });

  describe('Graph models', () => {
    it('writes the graph fixture over two manifest groups, the kernel straddling two shard files', async () => {
      const directory = folder('graph-layout');
      const written = await writeGraphModel(directory);
      const [first, second] = await Promise.all(written.groups[0].map((name) => stat(join(directory, name))));

      expect(written.groups).toEqual([['group1-shard1of2.bin', 'group1-shard2of2.bin'], ['group2-shard1of1.bin']]);
      expect((await readdir(directory)).sort()).toEqual([...written.groups.flat(), 'model.json'].sort());
      expect(first.size + second.size).toBe(written.kernel.byteLength);
      expect(first.size % Float32Array.BYTES_PER_ELEMENT).not.toBe(0);
    });

    it.each([
      { addOp: 'BiasAdd', inputDtype: FLOAT32 },
      { addOp: 'AddV2', inputDtype: INT32 },
    ] as const)(
      'loads a sharded Graph model using $addOp on $inputDtype input whose outputs equal softmax(x·W + b)',
      async ({ addOp, inputDtype }) => {
        const [model, written] = await graphModel({ addOp, inputDtype });
        const integers = inputDtype === INT32;
        const values = inputRows(BATCH, INPUT_WIDTH, integers);
        const data = integers ? Int32Array.from(values) : Float32Array.from(values);
        const expected = tf.tidy(() => {
          const x = tf.tensor2d(values, [BATCH, INPUT_WIDTH], FLOAT32);
          const kernel = tf.tensor2d(written.kernel, [INPUT_WIDTH, UNITS]);
          const bias = tf.tensor1d(written.bias);
          return tf.softmax(tf.add(tf.matMul(x, kernel), bias)).dataSync() as Float32Array;
        });

        const outputs = await model.infer({ [written.inputName]: { dtype: inputDtype, shape: [BATCH, INPUT_WIDTH], data } });

        expect(model.description.format).toBe('graph');
        expect(Object.keys(outputs)).toEqual([written.outputName]);
        const output = outputs[written.outputName];
        expect(output.dtype).toBe(FLOAT32);
        expect(output.shape).toEqual([BATCH, UNITS]);
        expect(output.data).toHaveLength(expected.length);
        (output.data as Float32Array).forEach((value, i) => expect(Math.abs(value - expected[i])).toBeLessThanOrEqual(GRAPH_TOLERANCE));
      },
    );

    it('takes a Graph model signature from the graph and its signature block: names, dtypes and shapes', async () => {
      const [floatModel, floatWritten] = await graphModel();
      const [intModel] = await graphModel({ inputName: 'features', outputName: 'scores', inputDtype: INT32 });

      expect(floatModel.description.signature.inputs).toEqual([
        { name: floatWritten.inputName, dtype: FLOAT32, shape: [FREE_DIM, INPUT_WIDTH], aliases: [`${floatWritten.inputName}:0`] },
      ]);
      // The output shape is not on the graph's nodes; it comes from the signature block.
      expect(floatModel.description.signature.outputs).toEqual([
        { name: floatWritten.outputName, dtype: FLOAT32, shape: [FREE_DIM, UNITS], aliases: [`${floatWritten.outputName}:0`] },
      ]);
      expect(intModel.description.signature.inputs).toEqual([
        { name: 'features', dtype: INT32, shape: [FREE_DIM, INPUT_WIDTH], aliases: ['features:0'] },
      ]);
      expect(intModel.description.signature.outputs.map((spec) => spec.name)).toEqual(['scores']);
    });
  });

  describe('metadata.json', () => {
    it('reads the labels and features of metadata.json beside the model', async () => {
      const directory = folder('metadata');
      await writeGraphModel(directory);
      const metadata = { labels: LABELS, features: FEATURES, description: 'iris classes' };
      await writeFile(join(directory, METADATA_JSON), JSON.stringify(metadata));

      const model = await load(directory);

      expect(model.description.metadata).toEqual(metadata);
    });

    it('gives empty metadata to a model without metadata.json', async () => {
      const [model] = await graphModel();

      expect(model.description.metadata).toEqual({});
    });

    it.each([
      ['a list instead of an object', JSON.stringify(LABELS)],
      ['a string instead of an object', JSON.stringify('labels')],
      ['null', 'null'],
      ['labels that are not strings', JSON.stringify({ labels: [0, 1, 2] })],
      ['labels that are not a list', JSON.stringify({ labels: 'setosa' })],
      ['duplicate labels', JSON.stringify({ labels: ['setosa', 'setosa', 'virginica'] })],
      ['an empty feature name', JSON.stringify({ features: ['sepal_length', ''] })],
      ['invalid JSON', '{"labels": ['],
    ])('refuses a metadata.json holding %s with a ModelFormatError naming metadata.json', async (_case, text) => {
      const directory = folder('bad-metadata');
      await writeGraphModel(directory);
      await writeFile(join(directory, METADATA_JSON), text);

      const error = await errorFrom(() => load(directory));

      expect(error).toBeInstanceOf(ModelFormatError);
      expect(error.message).toContain(METADATA_JSON);
    });
  });

  describe('broken model folders', () => {
    const expectedMessages: Record<BrokenModelKind, RegExp> = {
      'missing-shard': /group1-shard2of2\.bin/,
      'truncated-shard': /hold \d+ bytes but the manifest describes \d+/,
      'bad-json': /model\.json is not valid JSON/,
      'no-topology': /model\.json has no modelTopology/,
      'escaping-shard-path': /"\.\.\/outside\.bin" leaves the model folder/,
    };

    it.each(BROKEN_MODEL_KINDS)('refuses a %s model with a ModelFormatError saying what is wrong', async (kind) => {
      const directory = folder(kind);
      await writeBrokenModel(directory, kind);

      const error = await errorFrom(() => load(directory));

      expect(error).toBeInstanceOf(ModelFormatError);
      expect(error.message).toMatch(expectedMessages[kind]);
    });

    it('refuses a truncated shard with the byte counts found and expected', async () => {
      const directory = folder('truncated-counts');
      await writeBrokenModel(directory, 'truncated-shard');
      const written = await writeGraphModel(folder('intact'));
      const expectedBytes = written.kernel.byteLength + written.bias.byteLength;
      const sizes = await Promise.all(written.groups.flat().map((name) => stat(join(directory, name))));
      const actualBytes = sizes.reduce((sum, file) => sum + file.size, 0);

      const error = await errorFrom(() => load(directory));

      expect(actualBytes).toBeLessThan(expectedBytes);
      expect(error.message).toContain(`hold ${actualBytes} bytes but the manifest describes ${expectedBytes}`);
    });
  });

  describe('checkInputs', () => {
    let model: LoadedModel;
    let inputName: string;

    beforeAll(async () => {
      let written: WrittenGraphModel;
      [model, written] = await graphModel();
      inputName = written.inputName;
    });

    /** The InvalidInputError checkInputs throws; checks it names the input. */
    async function refusal(inputs: Record<string, HostTensor>, name: string): Promise<InvalidInputError> {
      const error = await errorFrom(() => checkInputs(model.description.signature, inputs));
      expect(error).toBeInstanceOf(InvalidInputError);
      const invalid = error as InvalidInputError;
      expect(invalid.message.startsWith(`${name}: `)).toBe(true);
      expect(invalid.problems.map((problem) => problem.path)).toEqual([name]);
      return invalid;
    }

    it('accepts inputs of the right name, dtype and shape, any batch size', () => {
      expect(() => checkInputs(model.description.signature, { [inputName]: floatInput(1, INPUT_WIDTH) })).not.toThrow();
      expect(() => checkInputs(model.description.signature, { [inputName]: floatInput(BATCH, INPUT_WIDTH) })).not.toThrow();
    });

    it('accepts the input under the name its signature block uses (":0"), keyed by its own name', () => {
      const input = floatInput(1, INPUT_WIDTH);

      const checked = checkInputs(model.description.signature, { [`${inputName}:0`]: input });

      expect(checked).toEqual({ [inputName]: input });
    });

    it('refuses an input given under both of its names', async () => {
      const error = await refusal(
        { [inputName]: floatInput(1, INPUT_WIDTH), [`${inputName}:0`]: floatInput(1, INPUT_WIDTH) },
        `${inputName}:0`,
      );

      expect(error.message).toContain('given twice');
    });

    it('refuses an input name the model does not have', async () => {
      const wrongName = `${inputName}_other`;
      const error = await refusal({ [wrongName]: floatInput(1, INPUT_WIDTH) }, wrongName);

      expect(error.message).toContain('is not an input');
    });

    it('refuses a missing input', async () => {
      const error = await refusal({}, inputName);

      expect(error.message).toContain('missing');
    });

    it('refuses an input of the wrong dtype', async () => {
      const input: HostTensor = { dtype: INT32, shape: [1, INPUT_WIDTH], data: new Int32Array(INPUT_WIDTH) };
      const error = await refusal({ [inputName]: input }, inputName);

      expect(error.message).toContain(INT32);
      expect(error.message).toContain(FLOAT32);
    });

    it.each([
      ['too many columns', [1, INPUT_WIDTH + 1]],
      ['too few columns', [BATCH, INPUT_WIDTH - 1]],
      ['one dimension', [INPUT_WIDTH]],
      ['three dimensions', [1, 1, INPUT_WIDTH]],
    ])('refuses an input of the wrong shape (%s)', async (_case, shape) => {
      const size = shape.reduce((n, d) => n * d, 1);
      const input: HostTensor = { dtype: FLOAT32, shape, data: new Float32Array(size) };
      const error = await refusal({ [inputName]: input }, inputName);

      expect(error.message).toContain(`[${shape}]`);
      expect(error.message).toContain(`[${FREE_DIM},${INPUT_WIDTH}]`);
    });

    it('refuses an input whose data length does not match its shape', async () => {
      const input: HostTensor = { dtype: FLOAT32, shape: [2, INPUT_WIDTH], data: new Float32Array(2 * INPUT_WIDTH - 1) };
      const error = await refusal({ [inputName]: input }, inputName);

      expect(error.message).toContain(`holds ${2 * INPUT_WIDTH - 1} values`);
      expect(error.message).toContain(`needs ${2 * INPUT_WIDTH}`);
    });
  });

  describe('tensor memory', () => {
    async function expectNoLeak(model: LoadedModel): Promise<void> {
      const inputs = { [model.description.signature.inputs[0].name]: floatInput(BATCH, INPUT_WIDTH) };
      // One call first: lazy, one-time allocations (compiled graphs, kernels) are not leaks.
      await model.infer(inputs);
      const before = tf.memory().numTensors;
      for (let call = 0; call < LEAK_CALLS; call++) {
        const outputs = await model.infer(inputs);
        expect(Object.keys(outputs)).toHaveLength(1);
      }
      expect(tf.memory().numTensors).toBe(before);
    }

    it(`leaves the tensor count of a Layers model unchanged over ${LEAK_CALLS} infer calls`, async () => {
      const directory = folder('layers-leak');
      const original = buildDenseLayersModel(tf, { inputWidth: INPUT_WIDTH, units: UNITS, seed: SEED });
      await saveLayersModel(tf, directory, original);
      original.dispose();

      await expectNoLeak(await load(directory));
    });

    it(`leaves the tensor count of a Graph model unchanged over ${LEAK_CALLS} infer calls`, async () => {
      const [model] = await graphModel();

      await expectNoLeak(model);
    });
  });
});
