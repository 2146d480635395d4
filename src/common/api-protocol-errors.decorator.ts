import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';

const EXAMPLES: Record<number, { description: string; error: string }> = {
  400: { description: 'Invalid argument: shape, datatype, input name, or data that does not fit them.', error: 'inputs[0].data: holds 3 values but shape [1,4] needs 4' },
  401: { description: 'The bearer token is missing or wrong.', error: 'the bearer token is not valid' },
  403: { description: 'Model management is off: no ADMIN_TOKEN is configured.', error: 'model management is turned off: set ADMIN_TOKEN to turn it on' },
  404: { description: 'No such model or version.', error: 'model "flowers" is not in the repository' },
  413: { description: 'The body is larger than BODY_LIMIT_BYTES.', error: 'request body is larger than the limit of 1048576 bytes' },
  415: { description: 'The body is not JSON.', error: 'unsupported content type "text/plain"; send application/json' },
  422: { description: 'The model was asked to load, but no version of it could.', error: 'model "broken" could not load: version 1 is UNAVAILABLE: weight shard "group1-shard2of2.bin" listed in model.json is missing' },
  500: { description: 'An unexpected fault; the details are in the log under the request id.', error: 'internal error' },
  503: { description: 'Unavailable: the model is loading or failed to load, or the server is not ready.', error: 'model "iris" is LOADING' },
};

/** Documents error statuses in the `{"error": "..."}` body the V2 and TF Serving protocols use. */
export function ApiProtocolErrors(...statuses: (keyof typeof EXAMPLES)[]): MethodDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: EXAMPLES[status].description,
        content: {
          'application/json': {
            schema: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
            example: { error: EXAMPLES[status].error },
          },
        },
      }),
    ),
  );
}
