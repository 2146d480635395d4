import { FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_ONNX } from './onnx-model';

/** ModelProto's `graph` field (onnx.proto): a model without one has not been written yet. */
const GRAPH_FIELD = 7;
/** Protocol buffers wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;
/** A tag and a length are at most 10 bytes each. */
const HEADER_BYTES = 20;
/** A model has a dozen top-level fields, plus one per metadata entry; past this, stop looking. */
const MAX_FIELDS = 100_000;

/**
 * Whether a version folder's `model.onnx` is whole, without reading it: its top-level protobuf
 * fields (ModelProto's) are walked by their headers alone, a few bytes each, and the last must
 * end exactly where the file does. A file still being copied ends inside a field (or holds no
 * graph yet). Returns what is wrong, or null; a file that is not protobuf at all is left for
 * ONNX Runtime to refuse with its own reason.
 *
 * External data files (`location` in a tensor, for models over 2 GB) are not checked.
 */
export async function findOnnxIncompleteness(directory: string): Promise<string | null> {
  let handle: FileHandle;
  try {
    handle = await open(join(directory, MODEL_ONNX), 'r');
  } catch (error) {
    return `cannot read ${MODEL_ONNX}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
  }
  try {
    const { size } = await handle.stat();
    if (size === 0) return `${MODEL_ONNX} is empty`;
    const header = Buffer.alloc(HEADER_BYTES);
    let offset = 0;
    let graph = false;
    for (let fields = 0; offset < size; fields++) {
      if (fields === MAX_FIELDS) return null;
      const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, offset);
      const tag = readVarint(header, 0, bytesRead);
      if (!tag) return endsInside(offset, size);
      if (Number.isNaN(tag.value)) return null;
      const field = Math.floor(tag.value / 8);
      const wireType = tag.value % 8;
      let end: number;
      if (wireType === VARINT) {
        const value = readVarint(header, tag.next, bytesRead);
        if (!value) return endsInside(offset, size);
        if (Number.isNaN(value.value)) return null;
        end = offset + value.next;
      } else if (wireType === FIXED64) {
        end = offset + tag.next + 8;
      } else if (wireType === FIXED32) {
        end = offset + tag.next + 4;
      } else if (wireType === LENGTH_DELIMITED) {
        const length = readVarint(header, tag.next, bytesRead);
        if (!length) return endsInside(offset, size);
        if (Number.isNaN(length.value)) return null;
        end = offset + length.next + length.value;
      } else {
        return null;
      }
      if (field === 0) return null;
      if (end > size) return endsInside(offset, size);
      if (field === GRAPH_FIELD && wireType === LENGTH_DELIMITED) graph = true;
      offset = end;
    }
    return graph ? null : `${MODEL_ONNX} holds no graph yet (${size} bytes)`;
  } finally {
    await handle.close();
  }
}

function endsInside(fieldOffset: number, size: number): string {
  return `${MODEL_ONNX} ends inside the field that starts at byte ${fieldOffset} (${size} bytes so far)`;
}

/**
 * A base-128 varint at `start`, and where it ends; null when the bytes end first, NaN for a
 * value longer than 10 bytes (not protobuf).
 */
function readVarint(bytes: Buffer, start: number, length: number): { value: number; next: number } | null {
  let value = 0;
  let scale = 1;
  for (let i = start; i < start + 10; i++) {
    if (i >= length) return null;
    value += (bytes[i] & 0x7f) * scale;
    if ((bytes[i] & 0x80) === 0) return { value, next: i + 1 };
    scale *= 128;
  }
  return { value: NaN, next: start + 10 };
}
