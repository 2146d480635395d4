import { InvalidInputError } from '../model/model-errors';
import { FeatureQueryPipe } from './feature-query.pipe';

describe(FeatureQueryPipe.name, () => {
  const pipe = new FeatureQueryPipe();

  it('turns decimal parameters into a row keyed by name', () => {
    expect(pipe.transform({ sepal_length: '5.1', petal_width: '-.2', x: '1e-3', y: '+4' })).toEqual({
      sepal_length: 5.1,
      petal_width: -0.2,
      x: 0.001,
      y: 4,
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no parameters', {}, 'query give each feature as a query parameter'],
    ['an empty value', { a: '' }, 'query.a must be a decimal number'],
    ['a hexadecimal value', { a: '0x10' }, 'query.a must be a decimal number'],
    ['Infinity', { a: 'Infinity' }, 'query.a must be a decimal number'],
    ['a repeated parameter', { a: ['1', '2'] }, 'query.a is given more than once'],
    ['a value past float32', { a: '4e38' }, 'query.a must be a finite number within float32 range'],
  ])('refuses %s with 400', (_case, query, message) => {
    const attempt = () => pipe.transform(query);

    expect(attempt).toThrow(InvalidInputError);
    expect(attempt).toThrow(message);
  });
});
