import { Injectable, PipeTransform } from '@nestjs/common';
import { InvalidInputError } from '../model/model-errors';
import { MAX_FEATURE_NAME_LENGTH, MAX_ROW_WIDTH, numberProblem } from './feature-rows';

/** A decimal number as a query string writes it: `5.1`, `-0.2`, `1e-3`; not `0x10` or ``. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Turns `?sepal_length=5.1&...` into a row keyed by feature name. The names depend on the
 * served model, so they cannot be properties of a DTO class; the prediction service checks
 * them against the model's metadata like a body's named features.
 */
@Injectable()
export class FeatureQueryPipe implements PipeTransform<unknown, Record<string, number>> {
  transform(query: unknown): Record<string, number> {
    const entries = Object.entries((query ?? {}) as Record<string, unknown>);
    if (entries.length === 0) {
      throw invalid('query', 'give each feature as a query parameter, e.g. ?sepal_length=5.1&sepal_width=3.5');
    }
    if (entries.length > MAX_ROW_WIDTH) {
      throw invalid('query', `has ${entries.length} parameters; at most ${MAX_ROW_WIDTH} are accepted`);
    }
    // No prototype: a `__proto__` parameter stays a key, and is refused as an unknown feature.
    const row = Object.create(null) as Record<string, number>;
    for (const [name, raw] of entries) {
      if (name.length > MAX_FEATURE_NAME_LENGTH) {
        throw invalid('query', `has a parameter name of ${name.length} characters; names have at most ${MAX_FEATURE_NAME_LENGTH}`);
      }
      const path = `query.${name}`;
      if (typeof raw !== 'string') throw invalid(path, 'is given more than once');
      if (!DECIMAL.test(raw)) throw invalid(path, 'must be a decimal number');
      const value = Number(raw);
      const problem = numberProblem(value);
      if (problem) throw invalid(path, problem);
      row[name] = value;
    }
    return row;
  }
}

function invalid(path: string, message: string): InvalidInputError {
  return new InvalidInputError(`${path} ${message}`, [{ path, message }]);
}
