import { allocate } from './dtypes';
import { InvalidInputError } from './model-errors';
import type { HostTensor, ModelSignature, NamedTensors, TensorSpec } from './model-types';

/**
 * The input or output a name refers to: its own name, or one of its aliases. Loops rather than
 * callbacks, here and in `checkTensor`: a callback made on every request is a new closure each
 * time, and V8 was seen compiling this one again and again under steady load.
 */
export function findTensor(specs: readonly TensorSpec[], name: string): TensorSpec | undefined {
  for (const spec of specs) if (spec.name === name) return spec;
  for (const spec of specs) if (spec.aliases?.includes(name)) return spec;
  return undefined;
}

/** The names of inputs or outputs, for messages. */
export function tensorNames(specs: readonly TensorSpec[]): string {
  return specs.map((spec) => spec.name).join(', ');
}

/**
 * Checks inputs against the signature (names, dtypes, shapes) and keys them by each input's
 * own name, whichever of its names the request used. Refuses unknown, doubled and missing
 * inputs, a wrong dtype, and a shape that does not fit (-1 is any size).
 */
export function checkInputs(signature: ModelSignature, inputs: NamedTensors): NamedTensors {
  const checked: NamedTensors = {};
  for (const [name, tensor] of Object.entries(inputs)) {
    const spec = findTensor(signature.inputs, name);
    if (!spec) throw InvalidInputError.at(name, `is not an input of this model; inputs are ${tensorNames(signature.inputs)}`);
    if (checked[spec.name]) throw InvalidInputError.at(name, `is input ${spec.name}, given twice`);
    checkTensor(spec, name, tensor);
    checked[spec.name] = tensor;
  }
  for (const spec of signature.inputs) {
    if (!checked[spec.name]) throw InvalidInputError.at(spec.name, 'is missing');
  }
  return checked;
}

function checkTensor(spec: TensorSpec, name: string, tensor: HostTensor): void {
  if (tensor.dtype !== spec.dtype) {
    throw InvalidInputError.at(name, `has dtype ${tensor.dtype}; the model expects ${spec.dtype}`);
  }
  let size = 1;
  for (const dim of tensor.shape) size *= dim;
  if (size !== tensor.data.length) {
    throw InvalidInputError.at(name, `holds ${tensor.data.length} values but its shape [${tensor.shape}] needs ${size}`);
  }
  if (size === 0) throw InvalidInputError.at(name, `has shape [${tensor.shape}], which holds no values; send at least one row`);
  if (spec.shape === null) return;
  let fits = spec.shape.length === tensor.shape.length;
  for (let i = 0; fits && i < spec.shape.length; i++) fits = spec.shape[i] === -1 || spec.shape[i] === tensor.shape[i];
  if (!fits) {
    throw InvalidInputError.at(name, `has shape [${tensor.shape}]; the model expects [${spec.shape}] (-1 is any size)`);
  }
}

/**
 * Zero inputs (empty strings, false) of the signature's shapes, for warm-up: a free leading
 * dimension set to `rows`, any other free dimension to 1.
 */
export function zeroInputs(signature: ModelSignature, rows = 1): NamedTensors {
  const inputs: NamedTensors = {};
  for (const spec of signature.inputs) {
    const shape = (spec.shape ?? [1]).map((dim, i) => (dim === -1 ? (i === 0 ? rows : 1) : dim));
    const size = shape.reduce((n, d) => n * d, 1);
    inputs[spec.name] = { dtype: spec.dtype, shape, data: allocate(spec.dtype, size) };
  }
  return inputs;
}
