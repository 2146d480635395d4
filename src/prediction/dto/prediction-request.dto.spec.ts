import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { PredictionRequestDto } from './prediction-request.dto';

const ROW = [5.1, 3.5, 1.4, 0.2];

function problems(body: object): string[] {
  const dto = plainToInstance(PredictionRequestDto, body);
  return validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, stopAtFirstError: true }).flatMap((e) =>
    Object.values(e.constraints ?? {}),
  );
}

describe(PredictionRequestDto.name, () => {
  it.each([
    ['one row as a list', { features: ROW }],
    ['one row keyed by feature name', { features: { sepal_length: 5.1, petal_width: 0.2 } }],
    ['a batch of rows', { instances: [ROW, { a: 1 }] }],
    ['values at the float32 limits', { features: [3.4028234663852886e38, -3.4028234663852886e38, 1e-45, 0] }],
  ])('accepts %s', (_case, body) => {
    expect(problems(body)).toEqual([]);
  });

  it.each<[string, object, string]>([
    ['no row at all', {}, 'send "features" (one row) or "instances" (a list of rows)'],
    ['both fields', { features: ROW, instances: [ROW] }, 'send either "features" or "instances", not both'],
    ['an empty row', { features: [] }, 'features must not be empty'],
    ['a row with no named features', { features: {} }, 'features must name at least one feature'],
    ['a boolean in a row', { features: [true, 1] }, 'features[0] must be a number, got a boolean'],
    ['a value past float32', { features: [3.5e38] }, 'features[0] must be a finite number within float32 range'],
    ['a named value that is a string', { features: { petal_width: '0.2' } }, 'features.petal_width must be a number, got a string'],
    ['an odd feature name holding a list', { features: { 'petal width': [1] } }, 'features["petal width"] must be a number, got a list'],
    ['a feature name too long', { features: { ['x'.repeat(129)]: 1 } }, 'features has a feature name of 129 characters'],
    ['an empty batch', { instances: [] }, 'instances must hold at least one row'],
    ['a row of a batch that is a number', { instances: [ROW, 7] }, 'instances[1] must be a list of numbers or an object'],
    ['a bad value deep in a batch', { instances: [ROW, ROW, [1, 2, Number.NaN]] }, 'instances[2][2] must be a finite number'],
    ['an unknown field', { features: ROW, extra: 1 }, 'property extra should not exist'],
  ])('refuses %s', (_case, body, message) => {
    expect(problems(body).join('\n')).toContain(message);
  });
});
