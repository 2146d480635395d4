import fc from 'fast-check';
import { IsString, validateSync, ValidateBy } from 'class-validator';
import { parseJsonBody } from '../http/json-body';
import { InferRequestDto } from '../prediction/open-inference/dto/infer-request.dto';
import { RepositoryIndexRequestDto } from '../prediction/open-inference/dto/infer-request.dto';
import { PredictionRequestDto } from '../prediction/dto/prediction-request.dto';
import { ClassifyRequestDto, PredictRequestDto } from '../prediction/tf-serving/dto/tf-serving-request.dto';
import { toInstance, VALIDATOR_OPTIONS } from './validation';
import { passesValidation } from './validation-plan';

type Dto = new () => object;

/** The body as the validation pipe sees it: parsed like a request's, given its DTO's prototypes. */
function instanceOf(type: Dto, body: unknown): object | null {
  let parsed: unknown;
  try {
    parsed = parseJsonBody(JSON.stringify(body));
  } catch {
    return null; // refused by the body parser, never validated
  }
  const instance = toInstance(type, parsed);
  return typeof instance === 'object' && instance !== null ? instance : null;
}

const classValidatorAccepts = (instance: object) => validateSync(instance, VALIDATOR_OPTIONS).length === 0;

/** A field's value: often a valid one, sometimes any JSON value, sometimes absent. */
const field = (valid: fc.Arbitrary<unknown>) =>
  fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 });
/** Now and then a value, else null. */
const rarely = <T>(value: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, { arbitrary: value, weight: 1 });
/** A body of these fields, the `usual` ones mostly present, now and then with a field of no DTO. */
const body = (fields: Record<string, fc.Arbitrary<unknown>>, usual: string[] = []) =>
  fc
    .tuple(
      fc.record(Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, field(value)])), { requiredKeys: [] }),
      fc.record(Object.fromEntries(usual.map((key) => [key, field(fields[key])]))),
      usual.length > 0 ? rarely(fc.constantFrom(...usual)) : fc.constant(null),
      rarely(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { minKeys: 1, maxKeys: 2 })),
    )
    .map(([some, usually, dropped, extra]) => {
      const generated: Record<string, unknown> = { ...extra, ...some, ...usually };
      if (dropped !== null) delete generated[dropped];
      return generated;
    });

const number = fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.integer());
const row = fc.oneof(
  fc.array(number, { minLength: 1, maxLength: 6 }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), number, { minKeys: 1, maxKeys: 4 }),
);
const prediction = body({ features: row, instances: fc.array(row, { minLength: 1, maxLength: 4 }) });
const tfPredict = body({
  signature_name: fc.string({ maxLength: 20 }),
  instances: fc.array(row, { minLength: 1, maxLength: 3 }),
  inputs: fc.oneof(fc.array(row, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.array(row, { maxLength: 2 }))),
});
const tfClassify = body({
  signature_name: fc.string({ maxLength: 20 }),
  context: fc.dictionary(fc.string({ maxLength: 5 }), number),
  examples: fc.array(fc.dictionary(fc.string({ maxLength: 5 }), number), { minLength: 1, maxLength: 3 }),
});
const v2Input = body(
  {
    name: fc.string({ minLength: 1, maxLength: 10 }),
    shape: fc.array(fc.nat(8), { maxLength: 3 }),
    datatype: fc.oneof({ arbitrary: fc.constantFrom('FP32', 'INT64', 'BYTES'), weight: 8 }, { arbitrary: fc.constant('fp32'), weight: 1 }),
    parameters: fc.oneof(fc.constant({}), fc.record({ binary_data_size: fc.nat(64) })),
    data: fc.array(number, { maxLength: 8 }),
  },
  ['name', 'shape', 'datatype', 'data'],
);
const v2Infer = body(
  {
    id: fc.string({ maxLength: 10 }),
    parameters: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 1 })),
    inputs: fc.array(v2Input, { minLength: 1, maxLength: 3 }),
    outputs: fc.array(
      body({ name: fc.string({ minLength: 1, maxLength: 10 }), parameters: fc.constant({ binary_data: true }) }, ['name']),
      { maxLength: 2 },
    ),
  },
  ['inputs'],
);
const repositoryIndex = body({ ready: fc.boolean() });

const CASES: [string, Dto, fc.Arbitrary<object>][] = [
  ['PredictionRequestDto', PredictionRequestDto, prediction],
  ['PredictRequestDto', PredictRequestDto, tfPredict],
  ['ClassifyRequestDto', ClassifyRequestDto, tfClassify],
  ['InferRequestDto', InferRequestDto, v2Infer],
  ['RepositoryIndexRequestDto', RepositoryIndexRequestDto, repositoryIndex],
];

describe('passesValidation', () => {
  describe.each(CASES)('%s', (_name, type, bodies) => {
    it('accepts only what class-validator accepts, and accepts most of it', () => {
      let bothAccepted = 0;
      let classValidatorOnly = 0;
      fc.assert(
        fc.property(bodies, (generated) => {
          const instance = instanceOf(type, generated);
          if (instance === null) return;
          const accepted = passesValidation(instance);
          const valid = classValidatorAccepts(instance);
          if (accepted) expect(valid).toBe(true);
          if (valid && accepted) bothAccepted++;
          if (valid && !accepted) classValidatorOnly++;
        }),
        { numRuns: 600 },
      );
      // It is the fast path of valid bodies: those it leaves to class-validator are rare.
      expect(bothAccepted).toBeGreaterThan(20);
      expect(classValidatorOnly).toBe(0);
    });
  });

  it('accepts the bodies of the docs and refuses a wrong one of each kind', () => {
    const accepts = (type: Dto, generated: unknown) => passesValidation(instanceOf(type, generated)!);
    expect(accepts(PredictionRequestDto, { features: [5.1, 3.5, 1.4, 0.2] })).toBe(true);
    expect(accepts(PredictionRequestDto, { instances: [{ sepal_length: 5.1 }] })).toBe(true);
    expect(accepts(PredictionRequestDto, {})).toBe(false); // neither field
    expect(accepts(PredictionRequestDto, { features: [1], instances: [[1]] })).toBe(false); // both
    expect(accepts(PredictionRequestDto, { features: [1, 'x'] })).toBe(false); // a custom rule
    expect(accepts(PredictionRequestDto, { features: [1], extra: 1 })).toBe(false); // an unknown field
    const input = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };
    expect(accepts(InferRequestDto, { inputs: [input] })).toBe(true);
    expect(accepts(InferRequestDto, { inputs: [{ ...input, shape: [-1] }] })).toBe(false); // each, in a nested DTO
    expect(accepts(InferRequestDto, { inputs: [{ ...input, extra: 1 }] })).toBe(false); // unknown field, nested
    expect(accepts(InferRequestDto, { inputs: [1] })).toBe(false); // not an object where a DTO goes
    expect(accepts(InferRequestDto, { inputs: [{ ...input, data: undefined, parameters: { binary_data_size: 4 } }] })).toBe(true); // ValidateIf
    expect(accepts(InferRequestDto, { inputs: [{ ...input, data: undefined }] })).toBe(false);
  });

  it('leaves to class-validator a value of no DTO class, and a class with a rule it does not run', () => {
    expect(passesValidation({ features: [1] })).toBe(false);

    class Asynchronous {
      @ValidateBy({ name: 'later', async: true, validator: { validate: () => Promise.resolve(true) } })
      @IsString()
      name!: string;
    }
    const asynchronous = Object.assign(new Asynchronous(), { name: 'a' });
    expect(classValidatorAccepts(asynchronous)).toBe(true);
    expect(passesValidation(asynchronous)).toBe(false);
  });
});
