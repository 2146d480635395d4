import {
  registerDecorator,
  ValidationArguments,
  ValidationOptions,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { findRowProblem, findRowsProblem } from './feature-rows';
import type { InputProblem } from '../model/model-errors';

function describe(problem: InputProblem | null): string {
  return problem ? `${problem.path} ${problem.message}` : '';
}

@ValidatorConstraint({ name: 'isFeatureRow' })
class FeatureRowConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    return value === undefined || findRowProblem(value, args.property) === null;
  }

  defaultMessage(args: ValidationArguments): string {
    return describe(findRowProblem(args.value, args.property));
  }
}

@ValidatorConstraint({ name: 'isFeatureRows' })
class FeatureRowsConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    return value === undefined || findRowsProblem(value, args.property) === null;
  }

  defaultMessage(args: ValidationArguments): string {
    return describe(findRowsProblem(args.value, args.property));
  }
}

@ValidatorConstraint({ name: 'exactlyOneOf' })
class ExactlyOneOfConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    const [other] = args.constraints as [string];
    return (value === undefined) !== ((args.object as Record<string, unknown>)[other] === undefined);
  }

  defaultMessage(args: ValidationArguments): string {
    const [other, describe] = args.constraints as [string, string];
    return args.value === undefined ? describe : `send either "${args.property}" or "${other}", not both`;
  }
}

/** One row of features (when present): finite float32 numbers, as a list or keyed by feature name. */
export function IsFeatureRow(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({ target: target.constructor, propertyName: propertyName as string, options, validator: FeatureRowConstraint });
}

/** A non-empty list of feature rows (when present). */
export function IsFeatureRows(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({ target: target.constructor, propertyName: propertyName as string, options, validator: FeatureRowsConstraint });
}

/**
 * Exactly one of this property and `other` is present (null counts as present, and is then
 * refused by the property's own rules). `missing` is the message when neither is.
 */
export function ExactlyOneOf(other: string, missing: string, options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      constraints: [other, missing],
      validator: ExactlyOneOfConstraint,
    });
}
