/**
 * Domain errors of the model module. They carry no HTTP status: the error filter maps each
 * class to one, so every protocol answers them the same way.
 */
export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}

/** The model exists but cannot serve now (still loading, failed to load, unloading). */
export class ModelNotReadyError extends Error {
  override readonly name = 'ModelNotReadyError';
}

export interface InputProblem {
  /** Where the problem is, as a path into the request: `instances[2][1]`, `features.petal_width`. */
  path: string;
  message: string;
}

/** A request's inputs do not fit the model: wrong shape, dtype, count, name or value. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';

  constructor(
    message: string,
    readonly problems: InputProblem[] = [],
  ) {
    super(message);
  }

  static at(path: string, message: string): InvalidInputError {
    return new InvalidInputError(`${path}: ${message}`, [{ path, message }]);
  }

  /** A problem with the request body as a whole: its message says so in full. */
  static body(message: string): InvalidInputError {
    return new InvalidInputError(message, [{ path: 'body', message }]);
  }
}

/** A model version's queue has no room for the request: retry shortly (HTTP 429). */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

/** A request waited past its deadline before its batch ran; its rows were not run (HTTP 504). */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
}

/** A management request to load a model that did not end with any version serving. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
}

/** A model folder whose files cannot be turned into a model. */
export class ModelFormatError extends Error {
  override readonly name = 'ModelFormatError';
}
