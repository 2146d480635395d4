import { InvalidInputError } from '../model/model-errors';
import { MAX_JSON_DEPTH, parseJsonBody } from './json-body';

function problemOf(text: string): { message: string; path: string } {
  try {
    parseJsonBody(text);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return { message: (error as Error).message, path: (error as InvalidInputError).problems[0].path };
  }
  throw new Error('expected an InvalidInputError, but none was thrown');
}

describe(parseJsonBody.name, () => {
  it('parses any JSON value, objects and lists up to the depth limit', () => {
    const nested = `${'['.repeat(MAX_JSON_DEPTH)}1${']'.repeat(MAX_JSON_DEPTH)}`;

    expect(parseJsonBody('{"features": [1, 2]}')).toEqual({ features: [1, 2] });
    expect(parseJsonBody('null')).toBeNull();
    expect(parseJsonBody(nested)).toBeDefined();
  });

  it.each(Object.getOwnPropertyNames(Object.prototype))('refuses the key "%s" wherever it is, naming its path', (key) => {
    const problem = problemOf(`{"inputs": [{"name": "x", "parameters": {${JSON.stringify(key)}: 1}}]}`);

    expect(problem.path).toBe(`inputs[0].parameters.${key}`);
    expect(problem.message).toBe(
      `inputs[0].parameters.${key}: is not accepted: keys named like Object.prototype members (__proto__, constructor, toString, ...) are refused`,
    );
  });

  it('refuses such a key at the top level and in a list of lists, written with escapes too', () => {
    expect(problemOf('{"\\u0063onstructor": {}}').path).toBe('constructor');
    expect(problemOf('[[1], [{"valueOf": 2}]]').path).toBe('[1][0].valueOf');
  });

  it('quotes keys that are not plain names in the path', () => {
    expect(problemOf('{"odd key": {"toString": 1}}').path).toBe('["odd key"].toString');
  });

  it.each<[string, string, string]>([
    ['an empty body', '  ', 'the body is empty; send a JSON object'],
    ['malformed JSON', '{"a": ', 'the body is not valid JSON'],
    [
      `nesting past ${MAX_JSON_DEPTH} levels`,
      `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`,
      `the body is nested more than ${MAX_JSON_DEPTH} levels deep`,
    ],
  ])('refuses %s, saying so', (_case, text, message) => {
    const problem = problemOf(text);

    expect(problem.message).toContain(message);
    expect(problem.path).toBe('body');
  });
});
