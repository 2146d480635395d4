import { endianness } from 'node:os';
import { halfToFloat } from '../../model/dtypes';
import { InvalidInputError } from '../../model/model-errors';
import type { HostTensor, TensorData, TensorSpec } from '../../model/model-types';
import { IntegerRange, toTypedData } from '../tensor-codec';
import { datatypesFeeding, V2Datatype } from './datatypes';

/**
 * Bytes per element of each fixed-size datatype in binary form (little-endian, row-major, no
 * padding). BYTES elements are each a 4-byte little-endian length, then that many bytes.
 */
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
/** The length before each BYTES element. */
const LENGTH_PREFIX_BYTES = 4;
/** BYTES elements carry text: ONNX Runtime for Node takes string tensors as JavaScript strings. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

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
 * floats, integers within the range the input takes (64-bit ones exact), booleans as 0 or 1,
 * BYTES elements as UTF-8 text.
 */
export function binaryHostTensor(
  spec: TensorSpec,
  shape: number[],
  datatype: V2Datatype,
  bytes: Buffer,
  path: string,
  integerRange: IntegerRange | undefined,
): HostTensor {
  if (!datatypesFeeding(spec.dtype).includes(datatype)) {
    throw InvalidInputError.at(path, `${datatype} data cannot feed input "${spec.name}"`);
  }
  const count = shape.reduce((n, d) => n * d, 1);
  if (datatype === 'BYTES') return { dtype: spec.dtype, shape, data: decodeStrings(bytes, count, path) };
  const width = ELEMENT_BYTES[datatype]!;
  if (bytes.length !== count * width) {
    throw InvalidInputError.at(
      `${path}.parameters.binary_data_size`,
      `is ${bytes.length} bytes, but shape [${shape}] of ${datatype} needs ${count * width} (${count} × ${width})`,
    );
  }
  const values = decode(bytes, datatype, count);
  return { dtype: spec.dtype, shape, data: toTypedData(values, spec.dtype, `${path}.data`, integerRange) };
}

/** The typed array each fixed-size datatype's bytes are read into on a little-endian host. */
const ARRAYS: Partial<Record<V2Datatype, new (buffer: ArrayBuffer) => ArrayLike<number | bigint>>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  INT16: Int16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  FP32: Float32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP64: Float64Array,
};

/** The elements of little-endian binary data: numbers, BigInts for 64-bit integers, booleans as 0 and 1. */
function decode(bytes: Buffer, datatype: V2Datatype, count: number): ArrayLike<number | bigint> {
  const array = ARRAYS[datatype];
  if (array && LITTLE_ENDIAN_HOST) {
    // One copy into an aligned buffer: the body's bytes may start at any offset.
    const aligned = new ArrayBuffer(bytes.length);
    new Uint8Array(aligned).set(bytes);
    return new array(aligned);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Array<number | bigint>(count);
  for (let i = 0; i < count; i++) values[i] = element(view, datatype, i);
  return values;
}

function element(view: DataView, datatype: V2Datatype, i: number): number | bigint {
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
    case 'UINT64':
      return view.getBigUint64(i * 8, true);
    case 'INT64':
      return view.getBigInt64(i * 8, true);
    case 'FP64':
      return view.getFloat64(i * 8, true);
    default:
      throw new Error(`no fixed-size binary form for ${datatype}`);
  }
}

/** BYTES elements: each a 4-byte little-endian length and that many bytes of UTF-8 text. */
function decodeStrings(bytes: Buffer, count: number, path: string): string[] {
  const strings = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + LENGTH_PREFIX_BYTES > bytes.length) {
      throw InvalidInputError.at(
        `${path}.parameters.binary_data_size`,
        `is ${bytes.length} bytes, which end before element ${i} of ${count} (BYTES elements are a 4-byte little-endian length, then the bytes)`,
      );
    }
    const length = bytes.readUInt32LE(offset);
    offset += LENGTH_PREFIX_BYTES;
    if (offset + length > bytes.length) {
      throw InvalidInputError.at(
        `${path}.parameters.binary_data_size`,
        `is ${bytes.length} bytes, which end inside element ${i}, whose length prefix says ${length} bytes`,
      );
    }
    try {
      strings[i] = UTF8.decode(bytes.subarray(offset, offset + length));
    } catch {
      throw InvalidInputError.at(`${path}.data[${i}]`, 'is not valid UTF-8: string inputs take text');
    }
    offset += length;
  }
  if (offset !== bytes.length) {
    throw InvalidInputError.at(
      `${path}.parameters.binary_data_size`,
      `is ${bytes.length} bytes, but the ${count} BYTES elements of the shape take ${offset}`,
    );
  }
  return strings;
}

/**
 * An output's values in binary form: little-endian elements of the dtype's width (bool one
 * byte each, float16 its bits), or for strings each a 4-byte little-endian length and its UTF-8
 * bytes, as Triton writes BYTES.
 */
export function encodeBinary(data: TensorData): Buffer {
  if (Array.isArray(data)) {
    const parts: Buffer[] = [];
    for (const text of data) {
      const encoded = Buffer.from(text, 'utf8');
      const length = Buffer.alloc(LENGTH_PREFIX_BYTES);
      length.writeUInt32LE(encoded.length);
      parts.push(length, encoded);
    }
    return Buffer.concat(parts);
  }
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || data.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = Buffer.from(bytes);
  if (data.BYTES_PER_ELEMENT === 2) return copy.swap16();
  if (data.BYTES_PER_ELEMENT === 4) return copy.swap32();
  return copy.swap64();
}
