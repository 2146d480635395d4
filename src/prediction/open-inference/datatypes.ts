import type { TensorDType } from '../../model/model-types';

/** Tensor datatypes of the Open Inference Protocol (KServe V2). */
export const V2_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const;
export type V2Datatype = (typeof V2_DATATYPES)[number];

const INT32_RANGE: [number, number] = [-(2 ** 31), 2 ** 31 - 1];

/** Integer datatypes, each with the range its values must keep (and at most int32's). */
const INTEGER_RANGES: Partial<Record<V2Datatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65_535],
  UINT32: [0, INT32_RANGE[1]],
  UINT64: [0, INT32_RANGE[1]],
  INT8: [-128, 127],
  INT16: [-32_768, 32_767],
  INT32: INT32_RANGE,
  INT64: INT32_RANGE,
};

/** Which request datatypes may feed a model input of each dtype. */
const FEEDS: Partial<Record<TensorDType, readonly V2Datatype[]>> = {
  float32: ['FP32', 'FP64', 'FP16'],
  int32: ['INT32', 'INT64', 'INT16', 'INT8', 'UINT8', 'UINT16', 'UINT32', 'UINT64'],
  bool: ['BOOL'],
};

/** The V2 datatype of a model input or output. */
export function datatypeOf(dtype: TensorDType): V2Datatype {
  if (dtype === 'int32') return 'INT32';
  if (dtype === 'bool') return 'BOOL';
  if (dtype === 'string') return 'BYTES';
  return 'FP32';
}

/** The request datatypes that can feed a model input of `dtype`. */
export function datatypesFeeding(dtype: TensorDType): readonly V2Datatype[] {
  return FEEDS[dtype] ?? [];
}

/** The range integer values of `datatype` must keep to reach an int32 input. */
export function integerRangeOf(datatype: V2Datatype): [number, number] {
  return INTEGER_RANGES[datatype] ?? INT32_RANGE;
}
