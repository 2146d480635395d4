import { BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';
import type { ErrorDetailDto } from './error-response.dto';

/**
 * The global validation pipe: unknown fields are refused, not stripped, so a misspelt field
 * name is an error the client sees; every problem is listed with its path.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
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
