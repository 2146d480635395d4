/**
 * Tensor element types a served model may take or give: ONNX Runtime's element types (a TF.js
 * model only ever declares float32, int32, bool, string or complex64).
 */
export type TensorDType =
  | 'float16'
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string'
  | 'complex64';

/** A named input or output of a model's signature; -1 marks a free dimension. */
export interface TensorSpec {
  name: string;
  dtype: TensorDType;
  /** null when the model does not declare the rank. */
  shape: number[] | null;
  /**
   * Other names the tensor answers to: a TF.js Graph model's signature calls its tensors
   * `input_1:0` where the graph calls them `input_1`.
   */
  aliases?: string[];
}

/**
 * Values of a tensor, flat and row-major, in the arrays ONNX Runtime for Node uses: float16 as
 * its IEEE 754 bit patterns (Uint16Array), int64 and uint64 as BigInt64Array and BigUint64Array
 * (exact past 2^53), bool as 0/1 bytes (Uint8Array), strings as string[].
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** A tensor held in host memory, as requests carry it in and responses carry it out. */
export interface HostTensor {
  dtype: TensorDType;
  shape: number[];
  data: TensorData;
}

/** Tensors keyed by input or output name. */
export type NamedTensors = Record<string, HostTensor>;

/** How a version's files are laid out on disk, and so which runtime serves it. */
export type ModelFormat = 'layers' | 'graph' | 'onnx';

/** What `metadata.json` beside a model may say about it; every field is optional. */
export interface ModelMetadata {
  /** Names of the output classes, in output order. */
  labels?: string[];
  /** Names of the input features, in input column order. */
  features?: string[];
  description?: string;
  [key: string]: unknown;
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** What a served version says about itself: read-only, and no way to run it but its queue. */
export interface VersionDescription {
  readonly format: ModelFormat;
  /** The platform name the Open Inference Protocol reports (`tensorflowjs_layers`, ...). */
  readonly platform: string;
  readonly signature: Readonly<ModelSignature>;
  readonly metadata: Readonly<ModelMetadata>;
}
