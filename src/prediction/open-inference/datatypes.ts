import { DTYPE_KINDS, INTEGER_LIMITS } from '../../model/dtypes';
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

/** The datatype of each dtype, as Triton names them for ONNX models. */
const DATATYPES: Record<TensorDType, V2Datatype> = {
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
  // The protocol has no complex datatype; TF.js gives complex values as float32 pairs.
  complex64: 'FP32',
};

/** The dtype whose values each datatype carries (BYTES: strings). */
const DTYPES = Object.fromEntries(
  (Object.entries(DATATYPES) as [TensorDType, V2Datatype][])
    .filter(([dtype]) => dtype !== 'complex64')
    .map(([dtype, datatype]) => [datatype, dtype]),
) as Record<V2Datatype, TensorDType>;

const FLOATS: readonly V2Datatype[] = ['FP32', 'FP64', 'FP16'];
const INTEGERS: readonly V2Datatype[] = ['INT32', 'INT64', 'INT16', 'INT8', 'UINT8', 'UINT16', 'UINT32', 'UINT64'];

/** The V2 datatype of a model input or output. */
export function datatypeOf(dtype: TensorDType): V2Datatype {
  return DATATYPES[dtype];
}

/** The dtype a datatype's values are read as, before they are converted to the input's. */
export function dtypeOfDatatype(datatype: V2Datatype): TensorDType {
  return DTYPES[datatype];
}

/**
 * The request datatypes that can feed a model input of `dtype`, its own first: any float
 * datatype feeds a float input and any integer datatype an integer one, each value converted and
 * checked within the input's range (a TF.js model's float32 input takes FP64 and FP16, its int32
 * input INT64 and the rest); BOOL feeds bool, BYTES feeds string.
 */
export function datatypesFeeding(dtype: TensorDType): readonly V2Datatype[] {
  const own = DATATYPES[dtype];
  switch (DTYPE_KINDS[dtype]) {
    case 'float':
      return [own, ...FLOATS.filter((d) => d !== own)];
    case 'integer':
      return [own, ...INTEGERS.filter((d) => d !== own)];
    case 'bool':
    case 'string':
      return [own];
    case 'complex':
      return [];
  }
}

/** The values an integer datatype can hold, which its data must keep to; undefined for the others. */
export function integerRangeOf(datatype: V2Datatype): readonly [bigint, bigint] | undefined {
  return INTEGER_LIMITS[DTYPES[datatype]];
}
