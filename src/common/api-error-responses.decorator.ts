import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';
import { ErrorResponseDto } from './error-response.dto';

/** What each error status means on this service's routes, with an example message. */
const ERRORS: Record<number, { description: string; message: string }> = {
  400: {
    description: 'The request is invalid: a body or query that is malformed, a missing, unknown or ill-typed field, a value out of range, or a row that does not fit the model.',
    message: 'features: has 5 values; model "iris" takes 4 (sepal_length, sepal_width, petal_length, petal_width)',
  },
  401: { description: 'The bearer token is missing or wrong.', message: 'the bearer token is not valid' },
  403: { description: 'Model management is off: no ADMIN_TOKEN is configured.', message: 'model management is turned off: set ADMIN_TOKEN to turn it on' },
  404: { description: 'No such model or version in the repository.', message: 'model "flowers" is not in the repository' },
  413: { description: 'The body is larger than BODY_LIMIT_BYTES.', message: 'request body is larger than the limit of 1048576 bytes' },
  415: { description: 'The body is not JSON.', message: 'unsupported content type "text/plain"; send application/json' },
  422: { description: 'The model was asked to load, but no version of it could.', message: 'model "iris" could not load: version 2 is UNAVAILABLE: weight shards hold 596 bytes but the manifest describes 604 (missing or truncated shard?)' },
  500: { description: 'An unexpected fault; the details are in the log under the request id.', message: 'internal error' },
  503: { description: 'The model is not loaded yet, or the service is shutting down.', message: 'model "iris" version 1 is LOADING' },
};

/** Documents the given error statuses with the shared error body and an example each. */
export function ApiErrorResponses(...statuses: (keyof typeof ERRORS)[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: ERRORS[status].description,
        content: {
          'application/json': {
            schema: { $ref: getSchemaPath(ErrorResponseDto) },
            example: {
              statusCode: status,
              error: STATUS_CODES[status],
              message: ERRORS[status].message,
              requestId: '5f0c1f0e-8d6b-4f43-9d4c-0c7f7e0a2b1d',
            },
          },
        },
      }),
    ),
  );
}
