import { endianness } from 'node:os';
import { InvalidInputError } from '../../model/model-errors';
import type { HostTensor, TensorData, TensorSpec } from '../../model/model-types';
import { toTypedData } from '../tensor-codec';
import type { V2Datatype } from './datatypes';

/** Bytes per element of each datatype in binary form (little-endian, row-major, no padding). */
const ELEMENT_BYTES: Partial<Record<V2Datatype, number>> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

const LITTLE_ENDIAN_HOST = endianness() === 'LE';


/** The `binary_data_size` of an input or output's parameters, or undefined when it has none. */
export function binaryDataSize(parameters: Record<string, unknown> | undefined, path: string): number | undefined {
  const size = parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw InvalidInputError.at(`${path}.parameters.binary_data_size`, `must be a whole number of bytes, got ${JSON.stringify(size)}`);
  }
  return size;
}

/**
 * Reads a boolean parameter (`binary_data`, `binary_data_output`) of the object at `path` (''
 * for the request itself); false when absent.
 */
export function booleanParameter(parameters: Record<string, unknown> | undefined, name: string, path: string): boolean {
  const value = parameters?.[name];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw InvalidInputError.at(`${path ? `${path}.` : ''}parameters.${name}`, `must be true or false, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * A model input's tensor from its bytes in binary form, checked as JSON values are: finite
 * floats, integers within the range the input takes, booleans as 0 or 1.
 */
export function binaryHostTensor(
  spec: TensorSpec,
  shape: number[],
  datatype: V2Datatype,
  bytes: Buffer,
  path: string,
  integerRange: readonly [number, number],
): HostTensor {
  const width = ELEMENT_BYTES[datatype];
  if (width === undefined || (spec.dtype !== 'float32' && spec.dtype !== 'int32' && spec.dtype !== 'bool')) {
    throw InvalidInputError.at(path, `${datatype} data cannot feed input "${spec.name}"`);
  }
  const count = shape.reduce((n, d) => n * d, 1);
  if (bytes.length !== count * width) {
    throw InvalidInputError.at(
      `${path}.parameters.binary_data_size`,
      `is ${bytes.length} bytes, but shape [${shape}] of ${datatype} needs ${count * width} (${count} × ${width})`,
    );
  }
  const values = decode(bytes, datatype, count);
  return { dtype: spec.dtype, shape, data: toTypedData(values, spec.dtype, `${path}.data`, integerRange) };
}

/** The elements of little-endian binary data as numbers (booleans as 0 and 1). */
function decode(bytes: Buffer, datatype: V2Datatype, count: number): ArrayLike<number> {
  if (datatype === 'FP32' && LITTLE_ENDIAN_HOST) {
    // One copy into an aligned array: the body's bytes may start at any offset.
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(bytes);
    return values;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Array<number>(count);
  for (let i = 0; i < count; i++) values[i] = element(view, datatype, i);
  return values;
}

function element(view: DataView, datatype: V2Datatype, i: number): number {
  switch (datatype) {
    case 'BOOL':
    case 'UINT8':
      return view.getUint8(i);
    case 'INT8':
      return view.getInt8(i);
    case 'UINT16':
      return view.getUint16(i * 2, true);
    case 'INT16':
      return view.getInt16(i * 2, true);
    case 'FP16':
      return halfToFloat(view.getUint16(i * 2, true));
    case 'UINT32':
      return view.getUint32(i * 4, true);
    case 'INT32':
      return view.getInt32(i * 4, true);
    case 'FP32':
      return view.getFloat32(i * 4, true);
    // 64-bit integers past 2^53 come out inexact, and are refused by the range check anyway.
    case 'UINT64':
      return Number(view.getBigUint64(i * 8, true));
    case 'INT64':
      return Number(view.getBigInt64(i * 8, true));
    case 'FP64':
      return view.getFloat64(i * 8, true);
    default:
      throw new Error(`no binary form for ${datatype}`);
  }
}

/** An IEEE 754 half-precision value's bits as a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** An output's values as little-endian bytes: FP32, INT32, or BOOL as one byte each. */
export function encodeBinary(data: TensorData): Buffer {
  if (!LITTLE_ENDIAN_HOST && !(data instanceof Uint8Array)) {
    const copy = Buffer.alloc(data.length * 4);
    data.forEach((v, i) => (data instanceof Float32Array ? copy.writeFloatLE(v, i * 4) : copy.writeInt32LE(v, i * 4)));
    return copy;
  }
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
