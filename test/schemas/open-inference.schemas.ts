/**
 * JSON Schemas of the Open Inference Protocol's REST responses (KServe "V2"), written for these
 * tests from the protocol's OpenAPI document (`/work/shared/refs/open_inference_rest.yaml`) and
 * its prose specification (`inference_rest.md`), plus `expectSchema`, which checks a body
 * against one of them with ajv and fails with ajv's findings spelt out.
 *
 * Where the prose is stricter than the OpenAPI file it is followed (model metadata lists its
 * inputs and outputs); error bodies are held to exactly `{"error": string}`, the shape both
 * protocols served here promise.
 */
import Ajv, { type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv';

export type JsonSchema = Record<string, unknown> & { title: string };

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new WeakMap<object, ValidateFunction>();

function describeProblem(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(body)' : error.instancePath;
  const params = Object.keys(error.params).length > 0 ? ` ${JSON.stringify(error.params)}` : '';
  return `${where} ${error.message ?? 'is invalid'}${params}`;
}

/** Fails the test, listing every problem ajv finds, unless `body` matches `schema`. */
export function expectSchema(schema: JsonSchema, body: unknown): void {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema as AnySchema);
    compiled.set(schema, validate);
  }
  if (validate(body)) return;
  const problems = (validate.errors ?? []).map(describeProblem);
  const shown = JSON.stringify(body);
  throw new Error(
    `the body does not match the schema "${schema.title}":\n  - ${problems.join('\n  - ')}\nbody: ${shown.length > 600 ? `${shown.slice(0, 600)}…` : shown}`,
  );
}

/** The tensor datatypes the prose specification lists ("Tensor Data Types"). */
export const SPEC_DATATYPES = [
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

const STRING = { type: 'string' } as const;
const STRINGS = { type: 'array', items: STRING } as const;
/** `parameters`: an object of key/value pairs. */
const PARAMETERS = { type: 'object' } as const;

/** Tensor data: a list whose items are values or lists of the same kind (flat or nested). */
const TENSOR_DATA = {
  type: 'array',
  items: { anyOf: [{ $ref: '#/definitions/tensorData' }, { type: 'number' }, { type: 'string' }, { type: 'boolean' }] },
} as const;

/** A tensor's metadata: `shape` may hold -1 for a dimension of any size. */
const METADATA_TENSOR_BODY = {
  type: 'object',
  required: ['name', 'datatype', 'shape'],
  properties: {
    name: STRING,
    datatype: { enum: SPEC_DATATYPES },
    shape: { type: 'array', items: { type: 'integer', minimum: -1 } },
  },
} as const;

/** An output tensor of a response: a real shape (no -1) and its data. */
const RESPONSE_OUTPUT_BODY = {
  type: 'object',
  required: ['name', 'shape', 'datatype', 'data'],
  properties: {
    name: STRING,
    shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
    datatype: { enum: SPEC_DATATYPES },
    parameters: PARAMETERS,
    data: { $ref: '#/definitions/tensorData' },
  },
} as const;

/** `GET /v2`: the server's name, version and extensions. */
export const SERVER_METADATA_RESPONSE: JsonSchema = {
  title: 'metadata_server_response',
  type: 'object',
  required: ['name', 'version', 'extensions'],
  properties: { name: STRING, version: STRING, extensions: STRINGS },
};

/** One input or output in model metadata. */
export const METADATA_TENSOR: JsonSchema = { title: 'metadata_tensor', ...METADATA_TENSOR_BODY };

/** `GET /v2/models/{name}[/versions/{v}]`. */
export const MODEL_METADATA_RESPONSE: JsonSchema = {
  title: 'metadata_model_response',
  type: 'object',
  required: ['name', 'platform', 'inputs', 'outputs'],
  properties: {
    name: STRING,
    versions: STRINGS,
    platform: STRING,
    inputs: { type: 'array', items: { $ref: '#/definitions/metadataTensor' } },
    outputs: { type: 'array', items: { $ref: '#/definitions/metadataTensor' } },
    properties: { type: 'object', additionalProperties: STRING },
  },
  definitions: { metadataTensor: METADATA_TENSOR_BODY },
};

/** One output tensor of an inference response. */
export const RESPONSE_OUTPUT: JsonSchema = {
  title: 'response_output',
  ...RESPONSE_OUTPUT_BODY,
  definitions: { tensorData: TENSOR_DATA },
};

/** `POST /v2/models/{name}[/versions/{v}]/infer`, answered 200. */
export const INFERENCE_RESPONSE: JsonSchema = {
  title: 'inference_response',
  type: 'object',
  required: ['model_name', 'outputs'],
  properties: {
    model_name: STRING,
    model_version: STRING,
    id: STRING,
    parameters: PARAMETERS,
    outputs: { type: 'array', items: { $ref: '#/definitions/responseOutput' } },
  },
  definitions: { responseOutput: RESPONSE_OUTPUT_BODY, tensorData: TENSOR_DATA },
};

/** Every error: exactly `{"error": "<what was wrong>"}`. */
export const ERROR_RESPONSE: JsonSchema = {
  title: 'error_response',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string', minLength: 1 } },
  additionalProperties: false,
};

/** `GET /v2/health/live` (the prose spec's `$live_server_response`). */
export const SERVER_LIVE_RESPONSE: JsonSchema = {
  title: 'live_server_response',
  type: 'object',
  required: ['live'],
  properties: { live: { type: 'boolean' } },
};

/** `GET /v2/health/ready` answered 200. */
export const SERVER_READY_RESPONSE: JsonSchema = {
  title: 'ready_server_response',
  type: 'object',
  required: ['ready'],
  properties: { ready: { type: 'boolean' } },
};

/** `GET /v2/models/{name}[/versions/{v}]/ready` answered 200 (`$ready_model_response`). */
export const MODEL_READY_RESPONSE: JsonSchema = {
  title: 'ready_model_response',
  type: 'object',
  required: ['name', 'ready'],
  properties: { name: STRING, ready: { type: 'boolean' } },
};

/** `GET /v2/models`: KServe's model list extension. */
export const MODEL_LIST_RESPONSE: JsonSchema = {
  title: 'model_list_response',
  type: 'object',
  required: ['models'],
  properties: { models: STRINGS },
};
