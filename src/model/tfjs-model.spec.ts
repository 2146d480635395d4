import { join } from 'node:path';
import type * as tfTypes from './tfjs';
import { TfjsModelLoader } from './model-loader';
import type { HostTensor, NamedTensors } from './model-types';
import { createTfjsRuntime, TfjsRuntime } from './tfjs-runtime';
import { layerChain, TfjsLayersModel } from './tfjs-model';

const SHIPPED_IRIS = join(__dirname, '..', '..', 'models', 'iris', '1');
const WIDTH = 6;
const BATCHES = [1, 7, 64];
const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'linear', 'elu', 'relu6', 'selu', 'softplus', 'softmax'] as const;

/** Varied rows: both signs, fractions, large and small values, no two rows alike. */
function rows(count: number, width: number): Float32Array {
  return Float32Array.from({ length: count * width }, (_, i) => ((((i * 7 + 3) % 17) - 8) / 3) * (i % 5 === 0 ? 10 : 1));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`TF.js Layers models run as a chain of layers (${backend} backend)`, () => {
    let runtime: TfjsRuntime;
    let tf: typeof tfTypes;
    const made: tfTypes.LayersModel[] = [];

    beforeAll(async () => {
      runtime = await createTfjsRuntime(backend);
      tf = runtime.tf;
    });

    afterAll(() => {
      for (const model of made) model.dispose();
    });

    function keep<M extends tfTypes.LayersModel>(model: M): M {
      made.push(model);
      return model;
    }

    /** What `execute` gives for the rows, and what the served model gives. */
    async function bothWays(model: tfTypes.LayersModel, batch: number): Promise<{ executed: Float32Array; served: HostTensor }> {
      const width = model.inputs[0].shape[1] as number;
      const data = rows(batch, width);
      const executed = tf.tidy(
        () => (model.execute(tf.tensor(data, [batch, width]), model.outputs[0].name) as tfTypes.Tensor).dataSync() as Float32Array,
      );
      const served = new TfjsLayersModel(tf, model, {});
      const inputName = served.description.signature.inputs[0].name;
      const outputs: NamedTensors = await served.infer({ [inputName]: { dtype: 'float32', shape: [batch, width], data } });
      return { executed, served: outputs[served.description.signature.outputs[0].name] };
    }

    /** A chain of dense layers with every activation, Dropout and Activation layers between, one without bias. */
    function denseChain(seed: number): tfTypes.Sequential {
      const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
      const layers: tfTypes.layers.Layer[] = [
        tf.layers.dense({ inputShape: [WIDTH], units: 9, activation: 'relu', kernelInitializer: init(0) }),
      ];
      ACTIVATIONS.forEach((activation, i) => {
        layers.push(
          tf.layers.dense({ units: 9, activation, useBias: i % 3 !== 1, kernelInitializer: init(i + 1), biasInitializer: init(i + 50) }),
        );
        if (i % 2 === 0) layers.push(tf.layers.dropout({ rate: 0.5 }));
        if (i % 3 === 0) layers.push(tf.layers.activation({ activation: 'tanh' }));
      });
      layers.push(tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(99) }));
      return keep(tf.sequential({ layers }));
    }

    it('gives exactly the outputs of execute for a chain of dense, dropout and activation layers, every activation', async () => {
      const model = denseChain(3);
      expect(layerChain(model)).toHaveLength(model.layers.length);
      for (const batch of BATCHES) {
        const { executed, served } = await bothWays(model, batch);
        expect(served.shape).toEqual([batch, 4]);
        expect(served.data).toEqual(executed);
      }
    });

    it('runs the same chain built as a functional model', async () => {
      const input = tf.input({ shape: [WIDTH] });
      const hidden = tf.layers
        .dense({ units: 5, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) })
        .apply(input);
      const output = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(hidden) as tfTypes.SymbolicTensor;
      const model = keep(tf.model({ inputs: input, outputs: output }));

      expect(layerChain(model)).toHaveLength(2);
      const { executed, served } = await bothWays(model, 7);
      expect(served.data).toEqual(executed);
    });

    it('leaves every other model to execute, with the same outputs as before', async () => {
      // A skip connection: the output layer takes two inputs.
      const input = tf.input({ shape: [WIDTH] });
      const a = tf.layers.dense({ units: WIDTH }).apply(input) as tfTypes.SymbolicTensor;
      const skip = keep(tf.model({ inputs: input, outputs: tf.layers.add().apply([a, input]) as tfTypes.SymbolicTensor }));
      // A layer outside the chain's kinds.
      const normalized = keep(
        tf.sequential({
          layers: [tf.layers.dense({ inputShape: [WIDTH], units: 4 }), tf.layers.batchNormalization(), tf.layers.dense({ units: 2 })],
        }),
      );
      // Two inputs.
      const left = tf.input({ shape: [WIDTH] });
      const right = tf.input({ shape: [WIDTH] });
      const twoInputs = keep(
        tf.model({ inputs: [left, right], outputs: tf.layers.concatenate().apply([left, right]) as tfTypes.SymbolicTensor }),
      );
      // Rows of sequences (rank 3): dense layers on the last axis.
      const sequences = keep(tf.sequential({ layers: [tf.layers.dense({ inputShape: [3, WIDTH], units: 2 })] }));
      // The output is a layer before the last one.
      const early = tf.input({ shape: [WIDTH] });
      const first = tf.layers.dense({ units: 3 }).apply(early) as tfTypes.SymbolicTensor;
      tf.layers.dense({ units: 2 }).apply(first);
      const earlyOutput = keep(tf.model({ inputs: early, outputs: first }));

      for (const model of [skip, normalized, twoInputs, sequences]) expect(layerChain(model)).toBeUndefined();
      expect(layerChain(earlyOutput)).toHaveLength(1);
      for (const model of [skip, normalized]) {
        expect(new TfjsLayersModel(tf, model, {}).runsAsChain).toBe(false);
        const { executed, served } = await bothWays(model, 7);
        expect(served.data).toEqual(executed);
      }
    });

    it('runs the shipped iris model as a chain, with the outputs of execute, and leaves no tensor behind', async () => {
      const served = (await new TfjsModelLoader(runtime).load(SHIPPED_IRIS)) as TfjsLayersModel;
      try {
        expect(served.runsAsChain).toBe(true);
        // The TF.js model the served one wraps, to run it through execute as well.
        const model = Reflect.get(served, 'model') as tfTypes.LayersModel;
        const { executed } = await bothWays(model, 21);
        const inputName = served.description.signature.inputs[0].name;
        await served.infer({ [inputName]: { dtype: 'float32', shape: [21, 4], data: rows(21, 4) } });
        const before = tf.memory().numTensors;
        const outputs = await served.infer({ [inputName]: { dtype: 'float32', shape: [21, 4], data: rows(21, 4) } });
        expect(tf.memory().numTensors).toBe(before);
        expect(Object.values(outputs)[0].data).toEqual(executed);
      } finally {
        served.dispose();
      }
    });

    it('gives back every tensor it held when the model is disposed', async () => {
      const before = tf.memory().numTensors;
      const served = (await new TfjsModelLoader(runtime).load(SHIPPED_IRIS)) as TfjsLayersModel;
      expect(served.runsAsChain).toBe(true);
      await served.infer({ [served.description.signature.inputs[0].name]: { dtype: 'float32', shape: [3, 4], data: rows(3, 4) } });
      expect(tf.memory().numTensors).toBeGreaterThan(before);
      served.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}
