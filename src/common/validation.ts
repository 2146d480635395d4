import { ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
import type { ErrorDetailDto } from './error-response.dto';

/**
 * The global validation pipe: unknown fields are refused, not stripped, so a misspelt field
 * name is an error the client sees; every problem is listed with its path.
 */
export function createValidationPipe(): ValidationPipe {
  return new BodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      const message = details.length > 0 ? details.map((d) => d.message).join('; ') : 'the request body is invalid';
      return new BadRequestException({ message, details });
    },
  });
}

function flatten(errors: ValidationError[], parent = ''): ErrorDetailDto[] {
  const details: ErrorDetailDto[] = [];
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      details.push({ path: path || 'body', message: rewrite(message, path) });
    }
    details.push(...flatten(error.children ?? [], path));
  }
  return details;
}

/** class-validator's wording for a few built-in rules, made to name the field first. */
function rewrite(message: string, path: string): string {
  if (message === 'an unknown value was passed to the validate function') {
    return 'the request body must be a JSON object';
  }
  const unknown = /^property (.+) should not exist$/.exec(message);
  if (unknown) return `${path} is not a field of this request`;
  return message;
}

/** ValidationPipe, plus: a body validated against a DTO class must be a JSON object. */
class BodyValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const isObject = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (metadata.type === 'body' && metadata.metatype && this.toValidate(metadata) && !isObject) {
      throw new BadRequestException({
        message: 'the request body must be a JSON object',
        details: [{ path: 'body', message: 'must be a JSON object' }],
      });
    }
    return super.transform(value, metadata);
  }
}
