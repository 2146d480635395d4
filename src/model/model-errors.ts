/**
 * Domain errors of the model module. They carry no HTTP status: the error filter maps each
 * class to one, so every protocol answers them the same way.
 */
export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}

/**
 * This replica cannot serve the model now, and waiting, or another replica, may help: the model
 * is loading or being unloaded, the repository is still loading, or the model is one the replica
 * must serve (REQUIRED_MODELS) and the replica is therefore not ready.
 */
export class ModelNotReadyError extends Error {
  override readonly name = 'ModelNotReadyError';
}

/**
 * The model is in the repository, but no version of it serves and none will until someone acts:
 * its load failed, or it was unloaded on request. A fault of that model alone: the replica stays
 * ready for the others.
 */
export class ModelNotServingError extends Error {
  override readonly name = 'ModelNotServingError';
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
