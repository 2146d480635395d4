/** The error a function throws (or its promise rejects with); fails when there is none. */
export async function errorFrom(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, but none was thrown');
}
