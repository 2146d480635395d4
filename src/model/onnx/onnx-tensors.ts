import type { Tensor } from 'onnxruntime-node';
import type { HostTensor, TensorDType } from '../model-types';

type Ort = typeof import('onnxruntime-node');

/**
 * ONNX Runtime's element type names the service exchanges. They are the service's own names,
 * and the values travel in the typed arrays ONNX Runtime for Node uses (`Tensor.DataTypeMap`):
 * float16 as Uint16Array bit patterns, int64/uint64 as BigInt arrays, bool as Uint8Array 0/1.
 * Left out: complex64 (no ONNX Runtime tensor type) and int4/uint4 (packed two to a byte).
 */
export const ONNX_ELEMENT_TYPES: ReadonlySet<string> = new Set<TensorDType>([
  'float16',
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
]);

export function isOnnxElementType(type: string): type is TensorDType {
  return ONNX_ELEMENT_TYPES.has(type);
}

/** An ONNX Runtime tensor over the host tensor's values (no copy for typed arrays). */
export function toOrtTensor(ort: Ort, tensor: HostTensor): Tensor {
  const made = new ort.Tensor(tensor.dtype as Tensor.Type, tensor.data, tensor.shape);
  if (tensor.dtype === 'float16' && typeTag(made.data) !== '[object Uint16Array]') {
    // Where the JavaScript engine has Float16Array (Node 23+), the Tensor wraps the bits in one,
    // which onnxruntime-node 1.30's native side reads as empty ("not enough space: expected N,
    // got 0"; microsoft/onnxruntime#32323). It reads `data`, so that is given the bits as the
    // Uint16Array it takes for float16.
    Object.defineProperty(made, 'data', { value: tensor.data, enumerable: true });
  }
  return made;
}

/** A host tensor from an ONNX Runtime output. */
export function fromOrtTensor(tensor: Tensor): HostTensor {
  if (!isOnnxElementType(tensor.type)) {
    throw new Error(`ONNX Runtime gave a tensor of element type ${tensor.type}, which the service cannot carry`);
  }
  let data = tensor.data;
  if (tensor.type === 'float16' && typeTag(data) !== '[object Uint16Array]') {
    // Where the JavaScript engine has Float16Array (Node 23+), ONNX Runtime returns one: keep
    // the bit patterns, as everywhere else.
    const halves = data as unknown as ArrayBufferView & { length: number };
    data = new Uint16Array(halves.buffer, halves.byteOffset, halves.length);
  }
  return { dtype: tensor.type, shape: tensor.dims.map(Number), data };
}

/** `[object Float32Array]` and so on; unlike `instanceof`, the same for arrays of any realm. */
export function typeTag(value: unknown): string {
  return Object.prototype.toString.call(value);
}
