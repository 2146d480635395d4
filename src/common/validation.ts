import { ArgumentMetadata, BadRequestException, Injectable, PipeTransform } from '@nestjs/common';
// class-transformer's own registry of `@Type` decorators (its package has no public export for it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as typeof import('class-transformer/types/storage');
import { validateSync, ValidationError, ValidatorOptions } from 'class-validator';
import type { ErrorDetailDto } from './error-response.dto';

/** Unknown fields are refused, not stripped: a misspelt field name is an error the client sees. */
const VALIDATOR_OPTIONS: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  stopAtFirstError: true,
  validationError: { target: false, value: false },
};

const BUILT_IN = new Set<unknown>([String, Boolean, Number, Array, Object, Buffer, Date]);

/**
 * The global validation pipe: request bodies are checked against their DTO class with
 * class-validator, and every problem is listed with its path.
 *
 * Unlike Nest's ValidationPipe, it does not deep-copy the body (class-transformer) nor walk it
 * for prototype keys and array gaps: the JSON parser already refuses prototype keys and cannot
 * make sparse arrays, and tensors of thousands of values would be copied and walked three times
 * per request. Only the objects a DTO declares as nested (`@Type`) become class instances.
 */
@Injectable()
export class BodyValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const { metatype } = metadata;
    if (metadata.type !== 'body' || !metatype || BUILT_IN.has(metatype)) return value;
    if (!isPlainObject(value)) {
      throw new BadRequestException({
        message: 'the request body must be a JSON object',
        details: [{ path: 'body', message: 'must be a JSON object' }],
      });
    }
    return validateBody(metatype as new () => object, value);
  }
}

/** The body as an instance of its DTO class, validated; throws a 400 listing the problems. */
export function validateBody<T extends object>(type: new () => T, body: unknown): T {
  const instance = toInstance(type, body) as T;
  const errors = validateSync(instance, VALIDATOR_OPTIONS);
  if (errors.length > 0) throw new BadRequestException(describeValidationErrors(errors));
  return instance;
}

/** A plain object re-parented onto its class, and so on for the properties marked `@Type`. */
function toInstance(type: new () => object, value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const instance: Record<string, unknown> = Object.assign(Object.create(type.prototype), value);
  for (const key of Object.keys(value)) {
    const nested = defaultMetadataStorage.findTypeMetadata(type, key);
    if (!nested) continue;
    const nestedType = nested.typeFunction() as new () => object;
    const child = value[key];
    instance[key] = Array.isArray(child) ? child.map((item) => toInstance(nestedType, item)) : toInstance(nestedType, child);
  }
  return instance;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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
