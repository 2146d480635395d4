import { InvalidInputError, ModelNotFoundError } from '../../model/model-errors';
import { ModelState, ModelVersionStatus } from '../../model/model-status';
import type { HostTensor, NamedTensors, TensorDType, TensorSpec, VersionDescription } from '../../model/model-types';
import { findTensor, tensorNames } from '../../model/signature';
import { numberProblem } from '../feature-rows';
import { flattenNested, hostTensor, JsonScalar, jsonValues, toNested } from '../tensor-codec';
import type { ClassifyRequestDto, PredictRequestDto } from './dto/tf-serving-request.dto';

/** The only signature a served model has; TF Serving's clients name it or leave it empty. */
export const DEFAULT_SIGNATURE = 'serving_default';

const CALL = /^(.+):(predict|classify|regress)$/;

/** TensorFlow's names of the dtypes (types.proto), as TF Serving's metadata gives them. */
const TF_DTYPES: Record<TensorDType, string> = {
  float16: 'DT_HALF',
  float32: 'DT_FLOAT',
  float64: 'DT_DOUBLE',
  int8: 'DT_INT8',
  int16: 'DT_INT16',
  int32: 'DT_INT32',
  int64: 'DT_INT64',
  uint8: 'DT_UINT8',
  uint16: 'DT_UINT16',
  uint32: 'DT_UINT32',
  uint64: 'DT_UINT64',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
  complex64: 'DT_COMPLEX64',
};

/** TF Serving's names for version states; a version that failed to load has ended. */
const TF_STATES: Record<ModelState, string> = {
  [ModelState.LOADING]: 'LOADING',
  [ModelState.AVAILABLE]: 'AVAILABLE',
  [ModelState.UNLOADING]: 'UNLOADING',
  [ModelState.UNAVAILABLE]: 'END',
};

/** `iris:predict` (or `1:predict` under `/versions/`) split into what it names and the method. */
export function parseCall(call: string): { head: string; verb: string } {
  const match = CALL.exec(call);
  if (!match) throw new ModelNotFoundError(`no route for "${call}": use {name}:predict or {name}:classify`);
  return { head: match[1], verb: match[2] };
}

export function checkSignature(name: string | undefined): void {
  if (name !== undefined && name !== '' && name !== DEFAULT_SIGNATURE) {
    throw InvalidInputError.at('signature_name', `"${name}" is not a signature of this model; it has ${DEFAULT_SIGNATURE}`);
  }
}

/** A predict request, decoded: the inputs, and the format the answer takes. */
export interface DecodedPredict {
  inputs: NamedTensors;
  /** Row format (`instances`, answered with `predictions`) or columnar (`inputs`, answered with `outputs`). */
  format: 'row' | 'columnar';
  rows: number;
}

/** A predict request's input tensors, from the row format or the columnar one. */
export function decodePredict(request: PredictRequestDto, description: VersionDescription): DecodedPredict {
  checkSignature(request.signature_name);
  const specs = description.signature.inputs;
  if (request.instances !== undefined)
    return { inputs: rowInputs(specs, request.instances), format: 'row', rows: request.instances.length };
  return { inputs: columnarInputs(specs, request.inputs), format: 'columnar', rows: 0 };
}

/** The answer: `predictions` row by row, or `outputs` whole; the output name dropped when there is one. */
export function encodePredict(outputs: NamedTensors, decoded: DecodedPredict): { predictions: unknown[] } | { outputs: unknown } {
  const names = Object.keys(outputs);
  const single = names.length === 1;
  if (decoded.format === 'columnar') {
    const nested = (n: string) => toNested(jsonValues(outputs[n], n), outputs[n].shape);
    return { outputs: single ? nested(names[0]) : Object.fromEntries(names.map((n) => [n, nested(n)])) };
  }
  const { rows } = decoded;
  const values = Object.fromEntries(names.map((n) => [n, jsonValues(outputs[n], n)]));
  const predictions = Array.from({ length: rows }, (_, r) =>
    single
      ? rowOf(outputs[names[0]], values[names[0]], r, rows)
      : Object.fromEntries(names.map((n) => [n, rowOf(outputs[n], values[n], r, rows)])),
  );
  return { predictions };
}

/** A classify request's examples as rows of named features (context features shared by every example). */
export function decodeClassify(request: ClassifyRequestDto): Record<string, number>[] {
  checkSignature(request.signature_name);
  return request.examples.map((example, i) => {
    const row: Record<string, number> = {};
    for (const [feature, value] of Object.entries({ ...request.context, ...example })) {
      const scalar = Array.isArray(value) && value.length === 1 ? (value[0] as unknown) : value;
      const problem = numberProblem(scalar);
      if (problem) throw InvalidInputError.at(`examples[${i}].${feature}`, `${problem} (or a one-item list of one)`);
      row[feature] = scalar as number;
    }
    return row;
  });
}

/** Each example's [label, score] pairs. */
export function encodeClassify(predictions: readonly { probabilities?: Record<string, number> }[]): { result: [string, number][][] } {
  return { result: predictions.map((p) => Object.entries(p.probabilities ?? {})) };
}

export function encodeVersionStatus(status: ModelVersionStatus): object {
  return {
    version: String(status.version),
    state: TF_STATES[status.state],
    status: { error_code: status.state === ModelState.UNAVAILABLE ? 'UNKNOWN' : 'OK', error_message: status.reason ?? '' },
  };
}

/** The model's metadata: its one signature, `serving_default`. */
export function encodeMetadata(name: string, version: number, description: VersionDescription): object {
  const tensors = (specs: readonly TensorSpec[]) => Object.fromEntries(specs.map((spec) => [spec.name, tensorInfo(spec)]));
  return {
    model_spec: { name, signature_name: '', version: String(version) },
    metadata: {
      signature_def: {
        signature_def: {
          [DEFAULT_SIGNATURE]: {
            inputs: tensors(description.signature.inputs),
            outputs: tensors(description.signature.outputs),
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Row format: instances are values of the one input, or objects keyed by input name. */
function rowInputs(specs: readonly TensorSpec[], instances: unknown[]): NamedTensors {
  const named = instances.every(isPlainObject);
  if (!named && specs.length !== 1) {
    throw InvalidInputError.at('instances', `the model takes ${tensorNames(specs)}: give each instance as an object keyed by input name`);
  }
  if (named) {
    instances.forEach((instance, r) => {
      for (const key of Object.keys(instance)) {
        if (!findTensor(specs, key))
          throw InvalidInputError.at(`instances[${r}].${key}`, `is not an input of the model; its inputs are ${tensorNames(specs)}`);
      }
    });
  }
  const inputs: NamedTensors = {};
  for (const spec of specs) {
    const stacked = named
      ? instances.map((instance, r) => {
          const value = valueOf(instance, spec);
          if (value === undefined) throw InvalidInputError.at(`instances[${r}]`, `is missing input "${spec.name}"`);
          return value;
        })
      : instances;
    const path = named ? `instances[*].${spec.name}` : 'instances';
    const { shape, values } = flattenNested(stacked, path);
    inputs[spec.name] = hostTensor(spec, shape, values, path, undefined, shape);
  }
  return inputs;
}

/** Columnar format: the whole batch of the one input, or an object keyed by input name. */
function columnarInputs(specs: readonly TensorSpec[], given: unknown): NamedTensors {
  const keys = isPlainObject(given) ? Object.keys(given) : [];
  const named = keys.length > 0 && keys.every((key) => findTensor(specs, key));
  if (!named) {
    if (specs.length !== 1)
      throw InvalidInputError.at('inputs', `the model takes ${tensorNames(specs)}: give an object keyed by input name`);
    if (isPlainObject(given))
      throw InvalidInputError.at('inputs', `names ${keys.join(', ') || 'nothing'}; the model's input is ${specs[0].name}`);
  }
  const inputs: NamedTensors = {};
  for (const spec of specs) {
    const value = named ? valueOf(given as Record<string, unknown>, spec) : given;
    const path = named ? `inputs.${spec.name}` : 'inputs';
    if (value === undefined) throw InvalidInputError.at(path, 'is missing');
    const { shape, values } = flattenNested(value, path);
    inputs[spec.name] = hostTensor(spec, shape, values, path, undefined, shape);
  }
  return inputs;
}

/** The value an object gives for an input, under its own name or an alias. */
function valueOf(object: Record<string, unknown>, spec: TensorSpec): unknown {
  for (const name of [spec.name, ...(spec.aliases ?? [])]) if (Object.hasOwn(object, name)) return object[name];
  return undefined;
}

/** Row `r` of an output whose first dimension is the batch, as nested lists of its JSON values. */
function rowOf(tensor: HostTensor, values: readonly JsonScalar[], r: number, rows: number): unknown {
  if (tensor.shape[0] !== rows) {
    throw new Error(`output of shape [${tensor.shape}] has no batch dimension of ${rows} rows`);
  }
  const inner = tensor.shape.slice(1);
  const stride = inner.reduce((n, d) => n * d, 1);
  return toNested(values.slice(r * stride, (r + 1) * stride), inner);
}

function tensorInfo(spec: TensorSpec): object {
  return {
    dtype: TF_DTYPES[spec.dtype],
    tensor_shape:
      spec.shape === null
        ? { dim: [], unknown_rank: true }
        : { dim: spec.shape.map((d) => ({ size: String(d), name: '' })), unknown_rank: false },
    name: spec.name,
  };
}
