import { InvalidInputError } from '../model/model-errors';
import { splitBinaryBody } from './binary-body';

/** Two little-endian float32 values, 1 and 2, as bytes. */
const TWO_FLOATS = Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40]);

/** The error `fn` throws; fails the test when it throws none. */
function thrown(fn: () => unknown): InvalidInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('expected an InvalidInputError, but none was thrown');
}

describe(splitBinaryBody.name, () => {
  const body = Buffer.concat([Buffer.from('{"inputs":[]}'), TWO_FLOATS]);
  const jsonLength = Buffer.byteLength('{"inputs":[]}');

  it('splits the body at the header length: the JSON before, the tensor bytes after', () => {
    const { header, tensors } = splitBinaryBody(body, String(jsonLength));

    expect(header.toString('utf8')).toBe('{"inputs":[]}');
    expect(Buffer.compare(tensors, TWO_FLOATS)).toBe(0);
  });

  it('takes a header as long as the whole body (no tensor bytes) and one of length 0', () => {
    expect(splitBinaryBody(body, String(body.length))).toEqual({ header: body, tensors: Buffer.alloc(0) });
    expect(splitBinaryBody(body, '0')).toEqual({ header: Buffer.alloc(0), tensors: body });
  });

  it('counts bytes, not characters, of a header with multi-byte UTF-8', () => {
    const json = '{"id":"é✓"}';
    const utf8 = Buffer.concat([Buffer.from(json), Buffer.from([1, 2, 3])]);

    const { header, tensors } = splitBinaryBody(utf8, String(Buffer.byteLength(json)));

    expect(header.toString('utf8')).toBe(json);
    expect([...tensors]).toEqual([1, 2, 3]);
  });

  it.each([
    ['longer than the body', String(body.length + 1)],
    ['negative', '-1'],
    ['a fraction', '12.5'],
    ['in exponent notation', '1e1'],
    ['hexadecimal', '0x10'],
    ['not a number', 'abc'],
    ['empty', ''],
    ['two numbers (a repeated header)', `${jsonLength}, ${jsonLength}`],
    ['more digits than any body', '12345678901234567890'],
  ])('refuses a header length that is %s, naming the header, the value and the body size', (_case, length) => {
    const error = thrown(() => splitBinaryBody(body, length));

    expect(error.message).toMatch(/^Inference-Header-Content-Length: /);
    expect(error.message).toContain(JSON.stringify(length));
    expect(error.message).toContain(String(body.length));
    expect(error.problems).toEqual([{ path: 'Inference-Header-Content-Length', message: expect.any(String) }]);
  });
});
