/**
 * JSON Schemas of TF Serving's REST API (V1) responses, written for these tests from TF
 * Serving's REST API documentation: model status, model metadata (a `SignatureDefMap` in
 * proto3 JSON form, int64 sizes as strings), `:predict` in the row and columnar formats,
 * `:classify`, and errors. Checked with `expectSchema`.
 */
import { type JsonSchema } from './open-inference.schemas';

export { expectSchema } from './open-inference.schemas';

/** States of `ModelVersionStatus.State`. */
export const VERSION_STATES = ['UNKNOWN', 'START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'] as const;

/** TensorFlow's canonical error codes, as `status.error_code` names them. */
export const ERROR_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
] as const;

const STRING = { type: 'string' } as const;
/** An int64 proto field in JSON: a string of digits, perhaps signed. */
const INT64_STRING = { type: 'string', pattern: '^-?[0-9]+$' } as const;

const TENSOR_INFO = {
  type: 'object',
  required: ['dtype', 'tensor_shape', 'name'],
  properties: {
    dtype: { type: 'string', pattern: '^DT_[A-Z0-9_]+$' },
    tensor_shape: {
      type: 'object',
      required: ['dim'],
      properties: {
        dim: {
          type: 'array',
          items: { type: 'object', required: ['size'], properties: { size: INT64_STRING, name: STRING } },
        },
        unknown_rank: { type: 'boolean' },
      },
    },
    name: STRING,
  },
} as const;

const TENSOR_INFO_MAP = { type: 'object', minProperties: 1, additionalProperties: { $ref: '#/definitions/tensorInfo' } } as const;

/** `GET /v1/models/{name}[/versions/{v}]`. */
export const MODEL_STATUS_RESPONSE: JsonSchema = {
  title: 'GetModelStatusResponse',
  type: 'object',
  required: ['model_version_status'],
  properties: {
    model_version_status: {
      type: 'array',
      items: {
        type: 'object',
        required: ['version', 'state', 'status'],
        properties: {
          version: INT64_STRING,
          state: { enum: VERSION_STATES },
          status: {
            type: 'object',
            required: ['error_code', 'error_message'],
            properties: { error_code: { enum: ERROR_CODES }, error_message: STRING },
          },
        },
      },
    },
  },
};

/** `GET /v1/models/{name}[/versions/{v}]/metadata`: the serving_default signature. */
export const MODEL_METADATA_RESPONSE: JsonSchema = {
  title: 'GetModelMetadataResponse',
  type: 'object',
  required: ['model_spec', 'metadata'],
  properties: {
    model_spec: {
      type: 'object',
      required: ['name', 'version'],
      properties: { name: STRING, signature_name: STRING, version: INT64_STRING },
    },
    metadata: {
      type: 'object',
      required: ['signature_def'],
      properties: {
        signature_def: {
          type: 'object',
          required: ['signature_def'],
          properties: {
            signature_def: {
              type: 'object',
              required: ['serving_default'],
              properties: {
                serving_default: {
                  type: 'object',
                  required: ['inputs', 'outputs'],
                  properties: { inputs: TENSOR_INFO_MAP, outputs: TENSOR_INFO_MAP, method_name: STRING },
                },
              },
            },
          },
        },
      },
    },
  },
  definitions: { tensorInfo: TENSOR_INFO },
};

/** `:predict` in the row format: one prediction per instance. */
export const PREDICT_ROW_RESPONSE: JsonSchema = {
  title: 'predict response (row format)',
  type: 'object',
  required: ['predictions'],
  properties: { predictions: { type: 'array', minItems: 1 } },
  additionalProperties: false,
};

/** `:predict` in the columnar format: the output, or an object of outputs keyed by name. */
export const PREDICT_COLUMNAR_RESPONSE: JsonSchema = {
  title: 'predict response (columnar format)',
  type: 'object',
  required: ['outputs'],
  properties: { outputs: { type: ['array', 'object', 'number', 'boolean', 'string'] } },
  additionalProperties: false,
};

/** `:classify`: per example, a list of [label, score] pairs. */
export const CLASSIFY_RESPONSE: JsonSchema = {
  title: 'classify response',
  type: 'object',
  required: ['result'],
  properties: {
    result: {
      type: 'array',
      items: {
        type: 'array',
        items: { type: 'array', items: [STRING, { type: 'number' }], minItems: 2, additionalItems: false },
      },
    },
  },
  additionalProperties: false,
};

/** Every error: exactly `{"error": "<what was wrong>"}`. */
export const ERROR_RESPONSE: JsonSchema = {
  title: 'TF Serving error',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string', minLength: 1 } },
  additionalProperties: false,
};
