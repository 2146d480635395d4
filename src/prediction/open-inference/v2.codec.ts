import { InvalidInputError } from '../../model/model-errors';
import type { NamedTensors, TensorSpec, VersionDescription } from '../../model/model-types';
import { findTensor, tensorNames } from '../../model/signature';
import { flattenData, hostTensor, jsonValues } from '../tensor-codec';
import { binaryDataSize, binaryHostTensor, booleanParameter, encodeBinary } from './binary-tensor';
import { datatypeOf, datatypesFeeding, integerRangeOf, V2Datatype } from './datatypes';
import type { InferRequestDto, InferResponseDto, InferResponseOutputDto } from './dto/infer-request.dto';

/** An inference request, decoded: the input tensors, and which outputs to answer and how. */
export interface DecodedInferRequest {
  inputs: NamedTensors;
  /** The outputs asked for, in order; every output when undefined. */
  outputs?: string[];
  /** Whether an output goes back in binary form. */
  binary: (name: string) => boolean;
}

/** An answer with outputs in binary form: the JSON header, then the outputs' raw bytes. */
export class BinaryInferResponse {
  constructor(
    readonly body: Buffer,
    readonly headerLength: number,
  ) {}
}

export interface TensorMetadata {
  name: string;
  datatype: V2Datatype;
  shape: number[];
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/**
 * The named input tensors of a request: values given as JSON (flat or nested), or, with the
 * binary tensor data extension, as the bytes after the JSON header (`bytes`), in the inputs'
 * order. Which outputs come back in binary form: each output's `binary_data`, by default the
 * request's `binary_data_output`. Everything is checked before the model runs.
 */
export function decodeInferRequest(
  request: InferRequestDto,
  bytes: Buffer | null,
  model: string,
  description: VersionDescription,
): DecodedInferRequest {
  const specs = description.signature.inputs;
  const inputs: NamedTensors = {};
  let offset = 0;
  request.inputs.forEach((input, i) => {
    const path = `inputs[${i}]`;
    const spec = findTensor(specs, input.name);
    if (!spec)
      throw InvalidInputError.at(
        `${path}.name`,
        `"${input.name}" is not an input of model "${model}"; its inputs are ${tensorNames(specs)}`,
      );
    if (inputs[input.name]) throw InvalidInputError.at(`${path}.name`, `"${input.name}" is given twice`);
    const datatype = checkDatatype(spec, input.datatype as V2Datatype, `${path}.datatype`);
    const size = binaryDataSize(input.parameters, path);
    if (size === undefined) {
      const { values, nesting } = flattenData(input.data, `${path}.data`);
      inputs[input.name] = hostTensor(spec, input.shape, values, `${path}.data`, integerRangeOf(datatype), nesting);
      return;
    }
    if (input.data !== undefined)
      throw InvalidInputError.at(path, 'has both "data" and parameters.binary_data_size; send the values one way');
    if (!bytes) {
      throw InvalidInputError.at(
        `${path}.parameters.binary_data_size`,
        'says the values follow the JSON in binary form, but the request has no Inference-Header-Content-Length header giving where the JSON ends',
      );
    }
    if (size > bytes.length - offset) {
      throw InvalidInputError.at(
        `${path}.parameters.binary_data_size`,
        `is ${size} bytes, but ${bytes.length - offset} bytes of binary data are left after the inputs before it`,
      );
    }
    inputs[input.name] = binaryHostTensor(
      spec,
      input.shape,
      datatype,
      bytes.subarray(offset, offset + size),
      path,
      integerRangeOf(datatype),
    );
    offset += size;
  });
  if (bytes && offset !== bytes.length) {
    throw InvalidInputError.at(
      'body',
      `has ${bytes.length} bytes of binary data after the JSON header, but the inputs' binary_data_size add up to ${offset}`,
    );
  }

  const allBinary = booleanParameter(request.parameters, 'binary_data_output', '');
  const binaryOutputs = new Map<string, boolean>();
  (request.outputs ?? []).forEach((output, i) => {
    if (binaryOutputs.has(output.name)) throw InvalidInputError.at(`outputs[${i}].name`, `"${output.name}" is asked for twice`);
    binaryOutputs.set(
      output.name,
      output.parameters?.binary_data === undefined ? allBinary : booleanParameter(output.parameters, 'binary_data', `outputs[${i}]`),
    );
  });
  return {
    inputs,
    outputs: request.outputs?.map((output) => output.name),
    binary: (name) => binaryOutputs.get(name) ?? allBinary,
  };
}

/** Refuses a request datatype that cannot feed the input; the datatype otherwise. */
function checkDatatype(spec: TensorSpec, datatype: V2Datatype, path: string): V2Datatype {
  const accepted = datatypesFeeding(spec.dtype);
  if (!accepted.includes(datatype)) {
    const others = accepted.length > 1 ? ` (or ${accepted.slice(1).join(', ')})` : '';
    throw InvalidInputError.at(path, `${datatype} cannot feed input "${spec.name}", which takes ${datatypeOf(spec.dtype)}${others}`);
  }
  return datatype;
}

/**
 * The response: every output as JSON, or, when any is asked for in binary form, the JSON header
 * followed by those outputs' little-endian bytes in order (BYTES: each element length-prefixed).
 */
export function encodeInferResponse(
  outputs: NamedTensors,
  binary: (name: string) => boolean,
  answer: { model: string; version: number; id?: string },
): InferResponseDto | BinaryInferResponse {
  const chunks: Buffer[] = [];
  const header: InferResponseDto = {
    model_name: answer.model,
    model_version: String(answer.version),
    ...(answer.id !== undefined ? { id: answer.id } : {}),
    outputs: Object.entries(outputs).map(([name, tensor]): InferResponseOutputDto => {
      const described = { name, shape: tensor.shape, datatype: datatypeOf(tensor.dtype) };
      if (!binary(name)) return { ...described, data: jsonValues(tensor, name) };
      const bytes = encodeBinary(tensor.data);
      chunks.push(bytes);
      return { ...described, parameters: { binary_data_size: bytes.length } };
    }),
  };
  if (chunks.length === 0) return header;
  const json = Buffer.from(JSON.stringify(header));
  return new BinaryInferResponse(Buffer.concat([json, ...chunks]), json.length);
}

/** Model metadata: platform, inputs and outputs with datatypes and shapes (-1 is any size). */
export function encodeModelMetadata(name: string, versions: readonly number[], description: VersionDescription): ModelMetadataResponse {
  return {
    name,
    versions: versions.map(String),
    platform: description.platform,
    inputs: description.signature.inputs.map(tensorMetadata),
    outputs: description.signature.outputs.map(tensorMetadata),
  };
}

function tensorMetadata(spec: TensorSpec): TensorMetadata {
  return { name: spec.name, datatype: datatypeOf(spec.dtype), shape: spec.shape ?? [-1] };
}
