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
    exceptionFactory: (errors) => new BadRequestException(describeValidationErrors(errors)),
  });
}

/** What class-validator found, as the error contract's message and details. */
export function describeValidationErrors(errors: ValidationError[]): { message: string; details: ErrorDetailDto[] } {
  const details = flatten(errors);
  const message = details.length > 0 ? details.map((d) => `${d.path}: ${d.message}`).join('; ') : 'the request body is invalid';
  return { message, details };
}

function flatten(errors: ValidationError[], parent = ''): ErrorDetailDto[] {
  const details: ErrorDetailDto[] = [];
  for (const error of errors) {
    const path = !parent ? error.property : /^\d+$/.test(error.property) ? `${parent}[${error.property}]` : `${parent}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) {
      details.push(locate(rewrite(message, error.property), error.property, path));
    }
    details.push(...flatten(error.children ?? [], path));
  }
  return details;
}

/**
 * Splits a rule's message into where and what: messages start with the property's name, often
 * followed by a more precise place (`features[2]`, `features.petal_width`); that place,
 * under the property's full path, becomes the detail's path.
 */
function locate(message: string, property: string, path: string): ErrorDetailDto {
  const named = property.length > 100 ? property.slice(0, 100) : property;
  if (message.startsWith(named)) {
    const place = /^((?:\[[^\]]*\]|\.[A-Za-z_$][\w$]*)*) (.*)$/s.exec(message.slice(named.length));
    if (place) return { path: `${path.slice(0, path.length - property.length)}${named}${place[1]}`, message: place[2] };
  }
  if (message.startsWith('send ')) return { path: 'body', message };
  return { path, message };
}

/** class-validator's wording for a few built-in rules, made to name the field first. */
function rewrite(message: string, property: string): string {
  if (message === 'an unknown value was passed to the validate function') {
    return `${property} must be a JSON object`;
  }
  if (/^property .+ should not exist$/.test(message)) return `${property.slice(0, 100)} is not a field of this request`;
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
