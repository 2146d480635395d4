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
 * the promise and its microtask cost more than the copy on small batches.
 */
function toHost(tensors: tf.Tensor[], names: string[]): NamedTensors {
  try {
    const result: NamedTensors = {};
    tensors.forEach((t, i) => {
      result[names[i]] = { dtype: t.dtype, shape: t.shape, data: t.dataSync() as HostTensor['data'] };
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
 * (rows of features), in the order they run; undefined for any other model. A chain is run by
 * calling each layer in turn, which computes what `execute` does (the same kernels in the same
 * order), without `execute`'s bookkeeping per call: its feed dictionary, the lookup of the
 * symbolic tensors, name scopes, and the checks of every layer's input.
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

/**
 * A TF.js Layers model (`tf.loadLayersModel`). A straight chain of dense layers (`layerChain`)
 * runs layer by layer; any other model with `execute` of its outputs: `predict` would check the
 * inputs again (the signature check has done that) and cut the batch into slices of 32 rows,
 * run one by one and concatenated.
 */
export class TfjsLayersModel extends LoadedModel {
  readonly description: VersionDescription;
  /** The symbolic output tensors' names, as `execute` takes them. */
  private readonly outputNames: string[];
  /** The layers to run in turn, when the model is such a chain. */
  private readonly chain: tf.layers.Layer[] | undefined;

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
    this.chain = layerChain(model);
  }

  /** Whether the model runs as a chain of layers rather than through `execute`. */
  get runsAsChain(): boolean {
    return this.chain !== undefined;
  }

  infer(inputs: NamedTensors): Promise<NamedTensors> {
    // A throw while running becomes the promise's rejection.
    return new Promise((resolve) => resolve(this.run(inputs)));
  }

  private run(inputs: NamedTensors): NamedTensors {
    const { signature } = this.description;
    const outputs = this.tfjs.tidy(() => {
      const tensors = signature.inputs.map((spec) => toTensor(this.tfjs, spec, inputs[spec.name]));
      if (this.chain) {
        let x = tensors[0];
        for (const layer of this.chain) x = layer.call(x, {}) as tf.Tensor;
        return [x];
      }
      const result = this.model.execute(tensors.length === 1 ? tensors[0] : tensors, this.outputNames);
      return Array.isArray(result) ? result : [result];
    });
    return toHost(
      outputs,
      signature.outputs.map((spec) => spec.name),
    );
  }

  dispose(): void {
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
