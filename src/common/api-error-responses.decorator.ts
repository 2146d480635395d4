import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';
import { ErrorResponseDto } from './error-response.dto';

/** What each error status means, with an example message: one catalogue for every protocol. */
const ERRORS = {
  400: {
    description:
      'The request is invalid: a body or query that is malformed, a missing, unknown or ill-typed field, a value out of range, or a tensor or row that does not fit the model (shape, datatype, input name).',
    message: 'features: has 5 values; model "iris" takes 4 (sepal_length, sepal_width, petal_length, petal_width)',
  },
  401: { description: 'The bearer token is missing or wrong.', message: 'the bearer token is not valid' },
  403: {
    description: 'Model management is off: no ADMIN_TOKEN is configured.',
    message: 'model management is turned off: set ADMIN_TOKEN to turn it on',
  },
  404: {
    description:
      'No such model or version in the repository, or the model is there but no version of it serves until someone acts: its load failed, or it was unloaded (the message says which, and why).',
    message: 'model "flowers" is not in the repository',
  },
  405: {
    description: 'The path exists, but not for this method; `Allow` lists the methods it takes.',
    message: 'GET is not allowed here; this path takes POST',
  },
  413: { description: 'The body is larger than BODY_LIMIT_BYTES.', message: 'request body is larger than the limit of 1048576 bytes' },
  415: { description: 'The body is not JSON.', message: 'unsupported content type "text/plain"; send application/json' },
  422: {
    description: 'The model was asked to load, but no version of it could.',
    message: 'model "broken" could not load: version 1 is UNAVAILABLE: weight shard "group1-shard2of2.bin" listed in model.json is missing',
  },
  429: {
    description: "Overloaded: the model's queue is full, or MAX_IN_FLIGHT_REQUESTS are in flight (Retry-After says when to try again).",
    message: "the model's queue is full (2048 rows waiting, at most 2048); retry shortly",
  },
  500: { description: 'An unexpected fault; the details are in the log under the request id.', message: 'internal error' },
  503: {
    description:
      'Not available on this replica now: the model is loading, the replica is starting or shutting down, or the model is one the replica must serve (REQUIRED_MODELS) and it is not serving, so the replica is not ready. Another replica may serve it; Retry-After says when to try again.',
    message: 'model "iris" version 1 is LOADING',
  },
  504: {
    description: 'The request waited longer than REQUEST_TIMEOUT_MS for its model; its rows were not run.',
    message: 'the request waited 5003 ms for the model, past its deadline of 5000 ms',
  },
};

type ErrorStatus = keyof typeof ERRORS;

const SERVICE_ERROR_SCHEMA = { $ref: getSchemaPath(ErrorResponseDto) };
const PROTOCOL_ERROR_SCHEMA = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] };
const EXAMPLE_REQUEST_ID = '5f0c1f0e-8d6b-4f43-9d4c-0c7f7e0a2b1d';

/** One documented response per status, with the given body schema and example. */
function errorResponses(statuses: ErrorStatus[], schema: object, example: (status: ErrorStatus) => object): MethodDecorator[] {
  return statuses.map((status) =>
    ApiResponse({
      status,
      description: ERRORS[status].description,
      content: { 'application/json': { schema, example: example(status) } },
    }),
  );
}

/** Documents error statuses with the service's error body (`{statusCode, error, message, requestId}`). */
export function ApiErrorResponses(...statuses: ErrorStatus[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ...errorResponses(statuses, SERVICE_ERROR_SCHEMA, (status) => ({
      statusCode: status,
      error: STATUS_CODES[status],
      message: ERRORS[status].message,
      requestId: EXAMPLE_REQUEST_ID,
    })),
  );
}

/** Documents error statuses in the `{"error": "..."}` body of the V2 and TF Serving protocols. */
export function ApiProtocolErrors(...statuses: ErrorStatus[]): MethodDecorator {
  return applyDecorators(...errorResponses(statuses, PROTOCOL_ERROR_SCHEMA, (status) => ({ error: ERRORS[status].message })));
}
