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
    return findRowProblem(value, args.property) === null;
  }

  defaultMessage(args: ValidationArguments): string {
    return describe(findRowProblem(args.value, args.property));
  }
}

@ValidatorConstraint({ name: 'isFeatureRows' })
class FeatureRowsConstraint implements ValidatorConstraintInterface {
  validate(value: unknown, args: ValidationArguments): boolean {
    return findRowsProblem(value, args.property) === null;
  }

  defaultMessage(args: ValidationArguments): string {
    return describe(findRowsProblem(args.value, args.property));
  }
}

@ValidatorConstraint({ name: 'conflictsWith' })
class ConflictsWithConstraint implements ValidatorConstraintInterface {
  validate(_value: unknown, args: ValidationArguments): boolean {
    const [other] = args.constraints as [string];
    return (args.object as Record<string, unknown>)[other] === undefined;
  }

  defaultMessage(args: ValidationArguments): string {
    const [other] = args.constraints as [string];
    return `send either "${args.property}" or "${other}", not both`;
  }
}

/** One row of features: finite float32 numbers, as a list or keyed by feature name. */
export function IsFeatureRow(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({ target: target.constructor, propertyName: propertyName as string, options, validator: FeatureRowConstraint });
}

/** A non-empty list of feature rows. */
export function IsFeatureRows(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({ target: target.constructor, propertyName: propertyName as string, options, validator: FeatureRowsConstraint });
}

/** The property must be absent when `other` is present. */
export function ConflictsWith(other: string, options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      target: target.constructor,
      propertyName: propertyName as string,
      options,
      constraints: [other],
      validator: ConflictsWithConstraint,
    });
}
