import type * as tf from './tfjs';
import { LoadedModel } from './loaded-model';
import type { HostTensor, ModelMetadata, NamedTensors, TensorDType, TensorSpec, VersionDescription } from './model-types';

type Tf = typeof import('./tfjs');

function specOf(name: string, dtype: string | undefined, shape: readonly (number | null)[] | undefined): TensorSpec {
  return {
    name,
    dtype: (dtype ?? 'float32') as TensorDType,
    shape: shape ? shape.map((dim) => (dim === null || dim < 0 ? -1 : dim)) : null,
  };
}

/**
 * Copies the outputs to host arrays and disposes them. `dataSync` rather than `data`: on the
 * backends the service runs (wasm, cpu, tensorflow) the values are in host memory already, and
 * the promise and its microtask cost more than the copy on small batches. `shape`: the one
 * output's, where it is answered in another shape than it was computed in.
 */
function toHost(tensors: tf.Tensor[], names: string[], shape?: number[]): NamedTensors {
  try {
    const result: NamedTensors = {};
    tensors.forEach((t, i) => {
      result[names[i]] = { dtype: t.dtype, shape: shape ?? t.shape, data: t.dataSync() as HostTensor['data'] };
    });
    return result;
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/**
 * A TF.js model declares only TF.js's dtypes (float32, int32, bool, string), and inputs are
 * checked against its signature before they get here, so their arrays are ones TF.js takes.
 */
function toTensor(tfjs: Tf, spec: TensorSpec, input: HostTensor): tf.Tensor {
  return tfjs.tensor(input.data as tf.TensorLike, input.shape, spec.dtype as tf.DataType);
}

/**
 * Layers whose `call` is the whole of what they compute at inference, on one input: no mask,
 * no state, nothing `execute` adds around them (Dropout passes its input through).
 */
const CHAIN_LAYERS: ReadonlySet<string> = new Set(['Dense', 'Dropout', 'Activation']);

/**
 * The layers of a model that is one straight chain of such layers, on one input of rank 2
 * (rows of features), in the order they run; undefined for any other model.
 */
export function layerChain(model: tf.LayersModel): tf.layers.Layer[] | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || model.inputs[0].shape.length !== 2) return undefined;
  const layers = model.layers.filter((layer) => layer.getClassName() !== 'InputLayer');
  let previous = model.inputs[0].sourceLayer;
  for (const layer of layers) {
    if (!CHAIN_LAYERS.has(layer.getClassName()) || layer.inboundNodes.length !== 1) return undefined;
    const inbound = layer.inboundNodes[0].inboundLayers;
    if (inbound.length !== 1 || inbound[0] !== previous) return undefined;
    previous = layer;
  }
  return layers.length > 0 && model.outputs[0].sourceLayer === previous ? layers : undefined;
}

/** Activations TF.js fuses into its matrix product kernel (tfjs-layers' `mapActivationToFusedKernel`). */
const FUSED_ACTIVATIONS: ReadonlySet<string> = new Set(['relu', 'linear', 'elu']);

type ActivationName = Parameters<typeof tf.layers.activation>[0]['activation'];

/** One step of a compiled chain, on a batch held as one matrix of a batch of one: `[1, rows, features]`. */
type ChainStep = (x: tf.Tensor) => tf.Tensor;

/** A chain compiled to kernels, and the tensors it holds (the kernels reshaped), to dispose with the model. */
interface CompiledChain {
  steps: ChainStep[];
  held: tf.Tensor[];
}

/**
 * A chain (`layerChain`) of float32 layers compiled to the kernels `Dense.call` runs, without
 * the layers and ops around them. `Dense.call` on rows calls `fused.matMul`, which reshapes
 * the rows and the kernel to three dimensions, checks them, runs one `_FusedMatMul` kernel
 * (with the bias and, for relu, linear and elu, the activation) and reshapes the result back;
 * other activations come after it, on the bias added with `add`. Holding the batch as
 * `[1, rows, features]` from the start and each kernel reshaped once at load, a Dense layer is
 * that one kernel (plus `add` and the activation where they are not fused): the same kernels
 * on the same values in the same order, so the same outputs to the bit (tfjs-model.spec.ts),
 * for half of what a batch of the shipped iris model cost through the layers. Dropout passes
 * its input through at inference and is left out; an Activation layer is called as it is.
 */
function compileChain(tfjs: Tf, model: tf.LayersModel, layers: tf.layers.Layer[]): CompiledChain | undefined {
  if (model.inputs[0].dtype !== 'float32') return undefined;
  const engine = tfjs.engine();
  // The attributes `fused.matMul` gives the kernel.
  const attrs = (fused: string): tf.NamedAttrMap => ({ transposeA: false, transposeB: false, activation: fused, leakyreluAlpha: 0.2 });
  const held: tf.Tensor[] = [];
  const steps: ChainStep[] = [];
  for (const layer of layers) {
    const kind = layer.getClassName();
    if (kind === 'Dropout') continue;
    if (kind === 'Activation') {
      steps.push((x) => layer.call(x, {}) as tf.Tensor);
      continue;
    }
    const [kernel, bias] = layer.getWeights();
    if (kernel.dtype !== 'float32' || kernel.rank !== 2 || (bias && (bias.dtype !== 'float32' || bias.rank !== 1))) {
      for (const t of held) t.dispose();
      return undefined;
    }
    const b = tfjs.keep(tfjs.reshape(kernel, [1, ...kernel.shape]));
    held.push(b);
    const activation = (layer.getConfig() as { activation?: ActivationName }).activation ?? 'linear';
    const product = (a: tf.Tensor, fused: tf.NamedAttrMap, withBias?: tf.Tensor) =>
      engine.runKernel<tf.Tensor>(tfjs._FusedMatMul, withBias ? { a, b, bias: withBias } : { a, b }, fused);
    if (FUSED_ACTIVATIONS.has(activation)) {
      const fused = attrs(activation);
      steps.push((a) => product(a, fused, bias));
    } else {
      const linear = attrs('linear');
      const apply = tfjs.layers.activation({ activation });
      steps.push((a) => {
        const x = product(a, linear);
        return apply.call(bias ? tfjs.add(x, bias) : x, {}) as tf.Tensor;
      });
    }
  }
  return { steps, held };
}

/**
 * A TF.js Layers model (`tf.loadLayersModel`). A straight chain of dense layers (`layerChain`)
 * runs as the kernels it compiles to (`compileChain`); any other model with `execute` of its
 * outputs: `predict` would check the inputs again (the signature check has done that) and cut
 * the batch into slices of 32 rows, run one by one and concatenated. `execute` itself, on a
 * chain, adds its feed dictionary, the lookup of the symbolic tensors, name scopes and the
 * checks of every layer's input.
 */
export class TfjsLayersModel extends LoadedModel {
  readonly description: VersionDescription;
  /** The symbolic output tensors' names, as `execute` takes them. */
  private readonly outputNames: string[];
  /** The outputs' names in the signature, as the answers are keyed. */
  private readonly answerNames: string[];
  /** The kernels to run in turn, when the model is such a chain. */
  private readonly chain: CompiledChain | undefined;

  constructor(
    private readonly tfjs: Tf,
    private readonly model: tf.LayersModel,
    metadata: ModelMetadata,
  ) {
    super();
    this.description = {
      format: 'layers',
      platform: 'tensorflowjs_layers',
      metadata,
      signature: {
        // originalName is the layer's own name; `name` gets a process-wide counter suffix that
        // would change with every load.
        inputs: model.inputs.map((t) => specOf(t.originalName ?? t.name, t.dtype, t.shape)),
        outputs: model.outputs.map((t) => specOf(t.originalName ?? t.name, t.dtype, t.shape)),
      },
    };
    this.outputNames = model.outputs.map((t) => t.name);
    this.answerNames = this.description.signature.outputs.map((spec) => spec.name);
    const layers = layerChain(model);
    this.chain = layers && compileChain(tfjs, model, layers);
  }

  /** Whether the model runs as a compiled chain of layers rather than through `execute`. */
  get runsAsChain(): boolean {
    return this.chain !== undefined;
  }

  infer(inputs: NamedTensors): Promise<NamedTensors> {
    // A throw while running becomes the promise's rejection.
    return new Promise((resolve) => resolve(this.run(inputs)));
  }

  private run(inputs: NamedTensors): NamedTensors {
    const { signature } = this.description;
    const { chain, answerNames: names } = this;
    if (chain) {
      const [spec] = signature.inputs;
      const { data, shape } = inputs[spec.name];
      const output = this.tfjs.tidy(() => {
        let x: tf.Tensor = this.tfjs.tensor3d(data as Float32Array, [1, shape[0], shape[1]], 'float32');
        for (const step of chain.steps) x = step(x);
        return x;
      });
      // The batch of one the chain ran as is dropped: [1, rows, outputs] back to [rows, outputs].
      return toHost([output], names, output.shape.slice(1));
    }
    const outputs = this.tfjs.tidy(() => {
      const tensors = signature.inputs.map((spec) => toTensor(this.tfjs, spec, inputs[spec.name]));
      const result = this.model.execute(tensors.length === 1 ? tensors[0] : tensors, this.outputNames);
      return Array.isArray(result) ? result : [result];
    });
    return toHost(outputs, names);
  }

  dispose(): void {
    for (const t of this.chain?.held ?? []) t.dispose();
    this.model.dispose();
  }
}

/** Message TF.js gives when a graph holds control flow that only executeAsync can run. */
const NEEDS_ASYNC = /executeAsync/;

/** A TF.js Graph model (`tf.loadGraphModel`), run with `execute`, or `executeAsync` for control flow. */
export class TfjsGraphModel extends LoadedModel {
  readonly description: VersionDescription;
  private runAsync = false;

  constructor(
    private readonly tfjs: Tf,
    private readonly model: tf.GraphModel,
    metadata: ModelMetadata,
  ) {
    super();
    const declared = declaredSignature(model);
    // The graph names its tensors `x`; the converter's signature block calls them `x:0`, and
    // often carries the shapes and dtypes the graph's nodes lack. Both names are accepted.
    const withDeclared = (spec: TensorSpec): TensorSpec => {
      const alias = spec.name.endsWith(':0') ? spec.name.slice(0, -2) : `${spec.name}:0`;
      const known = declared.get(spec.name) ?? declared.get(alias);
      const typed = known && spec.shape === null ? { ...spec, dtype: known.dtype, shape: known.shape } : spec;
      return { ...typed, aliases: [alias] };
    };
    this.description = {
      format: 'graph',
      platform: 'tensorflowjs_graph',
      metadata,
      signature: {
        inputs: model.inputs.map((t) => withDeclared(specOf(t.name, t.dtype, t.shape))),
        outputs: model.outputs.map((t) => withDeclared(specOf(t.name, t.dtype, t.shape))),
      },
    };
  }

  async infer(inputs: NamedTensors): Promise<NamedTensors> {
    const { signature } = this.description;
    const names = signature.outputs.map((spec) => spec.name);
    const feed: tf.NamedTensorMap = {};
    for (const spec of signature.inputs) feed[spec.name] = toTensor(this.tfjs, spec, inputs[spec.name]);
    try {
      const outputs = await this.execute(feed, names);
      return toHost(outputs, names);
    } finally {
      for (const t of Object.values(feed)) t.dispose();
    }
  }

  private async execute(feed: tf.NamedTensorMap, names: string[]): Promise<tf.Tensor[]> {
    if (!this.runAsync) {
      try {
        const result = this.model.execute(feed, names);
        return Array.isArray(result) ? result : [result];
      } catch (error) {
        if (!NEEDS_ASYNC.test(String((error as Error).message))) throw error;
        this.runAsync = true;
      }
    }
    const result = await this.model.executeAsync(feed, names);
    return Array.isArray(result) ? result : [result];
  }

  dispose(): void {
    this.model.dispose();
  }
}

const SIGNATURE_DTYPES: Record<string, TensorDType> = {
  DT_FLOAT: 'float32',
  DT_INT32: 'int32',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
  DT_COMPLEX64: 'complex64',
};

interface SignatureTensor {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
}

/**
 * The shapes and dtypes a converted graph declares in its `signature` block: graph nodes
 * often do not carry output shapes, the signature does.
 */
function declaredSignature(model: tf.GraphModel): Map<string, TensorSpec> {
  const signature = model.modelSignature as
    { inputs?: Record<string, SignatureTensor>; outputs?: Record<string, SignatureTensor> } | undefined;
  const specs = new Map<string, TensorSpec>();
  for (const group of [signature?.inputs, signature?.outputs]) {
    for (const [key, tensor] of Object.entries(group ?? {})) {
      const dtype = SIGNATURE_DTYPES[tensor.dtype ?? ''];
      if (!dtype) continue;
      const dims = tensor.tensorShape?.unknownRank ? null : (tensor.tensorShape?.dim ?? []).map((d) => Number(d.size ?? -1));
      const spec: TensorSpec = { name: tensor.name ?? key, dtype, shape: dims };
      specs.set(spec.name, spec);
      specs.set(key, spec);
    }
  }
  return specs;
}
