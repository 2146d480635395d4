import { InvalidInputError } from '../model/model-errors';

/**
 * The binary tensor data extension of the Open Inference Protocol (Triton's, which KServe
 * adopted): a request body is a JSON header of this many bytes followed by the inputs' raw
 * data; a response asked for in binary is laid out the same way.
 */
export const BINARY_HEADER_LENGTH = 'inference-header-content-length';

/** A body in binary form: the JSON header's text and the tensor bytes after it. */
export interface BinaryBody {
  header: Buffer;
  tensors: Buffer;
}

/**
 * Splits a body at the length the `Inference-Header-Content-Length` header gives; refuses a
 * length that is not a whole number of bytes within the body.
 */
export function splitBinaryBody(body: Buffer, headerLength: string): BinaryBody {
  const length = /^\d{1,10}$/.test(headerLength.trim()) ? Number(headerLength) : NaN;
  if (!Number.isSafeInteger(length) || length > body.length) {
    throw InvalidInputError.at(
      'Inference-Header-Content-Length',
      `must be the byte length of the JSON header at the start of the body (0 to ${body.length}), got ${JSON.stringify(headerLength.slice(0, 40))}`,
    );
  }
  return { header: body.subarray(0, length), tensors: body.subarray(length) };
}
