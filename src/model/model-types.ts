/** Tensor element types a served model may take or give. */
export type TensorDType = 'float32' | 'int32' | 'bool' | 'string' | 'complex64';

/**
 * Element types ONNX models have beyond TensorDType. They stay apart from it until the protocols
 * and codecs handle them, since those are exhaustive over TensorDType (TF Serving's dtype table,
 * the JSON and binary codecs); then the two unions merge.
 */
export type OnnxOnlyDType = 'float16' | 'float64' | 'int8' | 'int16' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64';

/** Every element type a model of either runtime may take or give. */
export type ElementType = TensorDType | OnnxOnlyDType;

/** A named input or output of a model's signature; -1 marks a free dimension. */
export interface TensorSpec<D extends ElementType = TensorDType> {
  name: string;
  dtype: D;
  /** null when the model does not declare the rank. */
  shape: number[] | null;
  /**
   * Other names the tensor answers to: a TF.js Graph model's signature calls its tensors
   * `input_1:0` where the graph calls them `input_1`.
   */
  aliases?: string[];
}

export type TensorData = Float32Array | Int32Array | Uint8Array;

/**
 * Values of tensors of any ElementType: float16 as its IEEE 754 bit patterns (Uint16Array),
 * int64 and uint64 as BigInt64Array and BigUint64Array (exact past 2^53), bool as 0/1 bytes
 * (Uint8Array), strings as string[].
 */
export type ElementData =
  | TensorData
  | Float64Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** A tensor held in host memory, as requests carry it in and responses carry it out. */
export interface HostTensor<D extends ElementType = TensorDType, T extends ElementData = TensorData> {
  dtype: D;
  shape: number[];
  data: T;
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

export interface ModelSignature<D extends ElementType = TensorDType> {
  inputs: TensorSpec<D>[];
  outputs: TensorSpec<D>[];
}

/** What a served version says about itself: read-only, and no way to run it but its queue. */
export interface VersionDescription {
  readonly format: ModelFormat;
  /** The platform name the Open Inference Protocol reports (`tensorflowjs_layers`, ...). */
  readonly platform: string;
  readonly signature: Readonly<ModelSignature>;
  readonly metadata: Readonly<ModelMetadata>;
}
