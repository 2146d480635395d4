import { getMetadataStorage, ValidationArguments, ValidationTypes, ValidatorConstraintInterface } from 'class-validator';

type Metadata = ReturnType<ReturnType<typeof getMetadataStorage>['getTargetValidationMetadatas']>[number];
type Condition = (object: object, value: unknown) => boolean;

/** One property's rules, in the order class-validator applies them. */
interface PropertyPlan {
  readonly name: string;
  /** `@IsOptional`, `@ValidateIf`: when one says no, the property's other rules are not applied. */
  readonly conditions: readonly Condition[];
  /** `@IsDefined`, then every other rule with a validator class (built-in or custom), with its validators. */
  readonly checks: readonly { readonly metadata: Metadata; readonly validators: readonly ValidatorConstraintInterface[] }[];
  /** `@ValidateNested`: the value (or each item) is validated as the instance of its own DTO class. */
  readonly nested: boolean;
}

/** A DTO class's rules, read once from class-validator's metadata. */
interface Plan {
  readonly fields: ReadonlySet<string>;
  readonly properties: readonly PropertyPlan[];
}

const KNOWN_TYPES = new Set<string>([
  ValidationTypes.CUSTOM_VALIDATION,
  ValidationTypes.IS_DEFINED,
  ValidationTypes.CONDITIONAL_VALIDATION,
  ValidationTypes.NESTED_VALIDATION,
  ValidationTypes.WHITELIST,
]);

/** Plans by DTO class; null for a class without rules, or with one this file does not run (async, with a context, of a schema). */
const plans = new Map<unknown, Plan | null>();

/**
 * Whether class-validator's `validateSync`, with the options the validation pipe gives it (no
 * groups, unknown values and fields forbidden), would find no problem in `instance`, decided by
 * running the same rules without class-validator's per-call bookkeeping (it looks up and groups
 * every DTO's metadata, and makes an error object for every property, on every call).
 *
 * Only ever a fast yes: false means "not shown valid here", and the caller then runs
 * `validateSync`, which decides and names the problems. So a body this accepts is one
 * class-validator accepts, and any rule or value it is not sure of makes it answer false.
 * The rules are read when a class is first validated; DTO classes declare theirs when they are
 * defined, at import.
 */
export function passesValidation(instance: object): boolean {
  const plan = planOf(instance.constructor);
  return plan !== null && passes(plan, instance as Record<string, unknown>);
}

function planOf(type: unknown): Plan | null {
  let plan = plans.get(type);
  if (plan === undefined) {
    plan = typeof type === 'function' ? compile(type as new (...args: never[]) => unknown) : null;
    plans.set(type, plan);
  }
  return plan;
}

function compile(type: new (...args: never[]) => unknown): Plan | null {
  const storage = getMetadataStorage();
  const metadatas = storage.getTargetValidationMetadatas(type, '', false, false, undefined);
  // A class without rules is an unknown value to class-validator.
  if (metadatas.length === 0) return null;
  const byProperty = storage.groupByPropertyName(metadatas);
  const properties: PropertyPlan[] = [];
  for (const [name, rules] of Object.entries(byProperty)) {
    if (rules.some((rule) => !KNOWN_TYPES.has(rule.type) || rule.context !== undefined || typeof rule.target !== 'function')) return null;
    const checked = [
      ...rules.filter((rule) => rule.type === ValidationTypes.IS_DEFINED),
      ...rules.filter((rule) => rule.type === ValidationTypes.CUSTOM_VALIDATION),
    ];
    const constraints = checked.map((rule) => storage.getTargetValidatorConstraints(rule.constraintCls));
    if (constraints.some((list) => list.some((constraint) => constraint.async))) return null;
    properties.push({
      name,
      conditions: rules
        .filter((rule) => rule.type === ValidationTypes.CONDITIONAL_VALIDATION)
        .map((rule) => rule.constraints[0] as Condition),
      // The validators are made once (class-validator's container keeps one of each class).
      checks: checked.map((metadata, i) => ({ metadata, validators: constraints[i].map((constraint) => constraint.instance) })),
      nested: rules.some((rule) => rule.type === ValidationTypes.NESTED_VALIDATION),
    });
  }
  return { fields: new Set(Object.keys(byProperty)), properties };
}

function passes(plan: Plan, object: Record<string, unknown>): boolean {
  for (const key of Object.keys(object)) if (!plan.fields.has(key)) return false;
  for (const property of plan.properties) {
    const value = object[property.name];
    if (!conditionsHold(property.conditions, object, value)) continue;
    for (const { metadata, validators } of property.checks) {
      if (!checkPasses(metadata, validators, object, value)) return false;
    }
    if (property.nested && value !== undefined && !nestedPasses(value)) return false;
  }
  return true;
}

function conditionsHold(conditions: readonly Condition[], object: object, value: unknown): boolean {
  for (const condition of conditions) if (!condition(object, value)) return false;
  return true;
}

function checkPasses(metadata: Metadata, validators: readonly ValidatorConstraintInterface[], object: object, value: unknown): boolean {
  if (metadata.validateIf && !metadata.validateIf(object, value)) return true;
  const args: ValidationArguments = {
    targetName: object.constructor?.name,
    property: metadata.propertyName,
    object,
    value,
    constraints: metadata.constraints,
  };
  const items = metadata.each ? itemsOf(value) : null;
  for (const validator of validators) {
    if (!items) {
      if (!isYes(validator.validate(value, args))) return false;
      continue;
    }
    for (const item of items) if (!isYes(validator.validate(item, args))) return false;
  }
  return true;
}

/** A validator's answer that class-validator counts as valid at once: a promise (an async rule registered as sync) is not. */
function isYes(result: unknown): boolean {
  return typeof result !== 'object' && Boolean(result);
}

/** A nested DTO, or a list (set, map) of them, each valid as an instance of its own class. */
function nestedPasses(value: unknown): boolean {
  const items = itemsOf(value);
  if (items) {
    for (const item of items) if (!nestedPasses(item)) return false;
    return true;
  }
  if (!(value instanceof Object)) return false;
  const plan = planOf(value.constructor);
  return plan !== null && passes(plan, value as Record<string, unknown>);
}

function itemsOf(value: unknown): unknown[] | null {
  if (Array.isArray(value)) return value as unknown[];
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value instanceof Map) return [...(value as Map<unknown, unknown>).values()];
  return null;
}
