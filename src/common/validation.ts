import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ValidateNested, validateSync, ValidationError, ValidatorOptions } from 'class-validator';
import { InputProblem, InvalidInputError } from '../model/model-errors';
import { passesValidation } from './validation-plan';

/** Unknown fields are refused, not stripped: a misspelt field name is an error the client sees. */
export const VALIDATOR_OPTIONS: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  stopAtFirstError: true,
  validationError: { target: false, value: false },
};

const BUILT_IN = new Set<unknown>([String, Boolean, Number, Array, Object, Buffer, Date]);

const NESTED = Symbol('nested DTOs');

type DtoClass = new () => object;

/**
 * A property holding a DTO, or a list of them: validated as that class (class-validator's
 * `ValidateNested`), and made an instance of it by the validation pipe.
 */
export function NestedDto(type: () => DtoClass): PropertyDecorator {
  return (target, property) => {
    const nested = new Map<string | symbol, () => DtoClass>(
      Reflect.getMetadata(NESTED, target) as Map<string | symbol, () => DtoClass> | undefined,
    );
    nested.set(property, type);
    Reflect.defineMetadata(NESTED, nested, target);
    ValidateNested({ each: true })(target, property);
  };
}

/**
 * The global validation pipe: request bodies are checked against their DTO class with
 * class-validator, and every problem is listed with its path.
 *
 * Unlike Nest's ValidationPipe, it does not deep-copy the body with class-transformer: tensors
 * of thousands of values would be copied and walked for nothing. A body's objects are given
 * their DTO's prototype instead (the body parser has already refused keys named like
 * Object.prototype members, which could otherwise shadow `constructor`).
 */
@Injectable()
export class BodyValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const { metatype } = metadata;
    if (metadata.type !== 'body' || !metatype || BUILT_IN.has(metatype)) return value;
    // A request sent with no body at all is an empty object: what is missing is then named.
    return validateBody(metatype as DtoClass, value ?? {});
  }
}

/** The body as an instance of its DTO class, validated; throws InvalidInputError listing the problems. */
export function validateBody<T extends object>(type: new () => T, body: unknown): T {
  if (!isPlainObject(body))
    throw new InvalidInputError('the request body must be a JSON object', [{ path: 'body', message: 'must be a JSON object' }]);
  const instance = toInstance(type, body) as T;
  if (passesValidation(instance)) return instance;
  const errors = validateSync(instance, VALIDATOR_OPTIONS);
  if (errors.length > 0) {
    const details = flatten(errors);
    const message = details.length > 0 ? details.map((d) => `${d.path}: ${d.message}`).join('; ') : 'the request body is invalid';
    throw new InvalidInputError(message, details);
  }
  return instance;
}

/** A plain object re-parented onto its class, and so on for its nested DTOs. */
export function toInstance(type: DtoClass, value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const instance: Record<string, unknown> = Object.assign(Object.create(type.prototype as object) as object, value);
  for (const [key, nestedType] of nestedDtosOf(type)) {
    const child = value[key];
    if (child === undefined) continue;
    instance[key] = Array.isArray(child) ? child.map((item) => toInstance(nestedType(), item)) : toInstance(nestedType(), child);
  }
  return instance;
}

/** The DTO properties of a class, read from its metadata once (decorators run when the class is defined). */
const NESTED_BY_CLASS = new WeakMap<DtoClass, readonly (readonly [string, () => DtoClass])[]>();

function nestedDtosOf(type: DtoClass): readonly (readonly [string, () => DtoClass])[] {
  let nested = NESTED_BY_CLASS.get(type);
  if (!nested) {
    nested = [...((Reflect.getMetadata(NESTED, type.prototype as object) as Map<string, () => DtoClass> | undefined) ?? [])];
    NESTED_BY_CLASS.set(type, nested);
  }
  return nested;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function flatten(errors: ValidationError[], parent = ''): InputProblem[] {
  const details: InputProblem[] = [];
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
function locate(message: string, property: string, path: string): InputProblem {
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
