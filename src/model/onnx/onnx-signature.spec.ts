import { ModelFormatError } from '../model-errors';
import { onnxSignature, OnnxValueMetadata } from './onnx-signature';

const tensor = (name: string, type: string, shape: (number | string)[]): OnnxValueMetadata => ({ name, isTensor: true, type, shape });

describe(onnxSignature.name, () => {
  it('keeps names in model order, element types, and fixed dimensions', () => {
    const signature = onnxSignature(
      [tensor('b', 'int64', [2, 3]), tensor('a', 'float64', [7])],
      [tensor('z', 'uint8', [1]), tensor('y', 'string', [4, 4])],
    );

    expect(signature).toEqual({
      inputs: [
        { name: 'b', dtype: 'int64', shape: [2, 3] },
        { name: 'a', dtype: 'float64', shape: [7] },
      ],
      outputs: [
        { name: 'z', dtype: 'uint8', shape: [1] },
        { name: 'y', dtype: 'string', shape: [4, 4] },
      ],
    });
  });

  it('turns named and unnamed symbolic dimensions into -1', () => {
    const signature = onnxSignature([tensor('x', 'float32', ['batch', '', 3])], [tensor('y', 'bool', ['N'])]);

    expect(signature.inputs[0].shape).toEqual([-1, -1, 3]);
    expect(signature.outputs[0].shape).toEqual([-1]);
  });

  it('takes an empty shape (a scalar or an undeclared rank, which ONNX Runtime reports alike) as any shape', () => {
    const signature = onnxSignature([tensor('x', 'float32', [])], [tensor('y', 'float32', [])]);

    expect(signature.inputs[0].shape).toBeNull();
    expect(signature.outputs[0].shape).toBeNull();
  });

  it.each(['float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'])(
    'takes element type %s as it is',
    (type) => {
      expect(onnxSignature([tensor('x', type, [1])], []).inputs[0].dtype).toBe(type);
    },
  );

  it('refuses a non-tensor output with the way to export without ZipMap', () => {
    const outputs: OnnxValueMetadata[] = [tensor('output_label', 'int64', ['N']), { name: 'output_probability', isTensor: false }];

    expect(() => onnxSignature([tensor('float_input', 'float32', ['N', 4])], outputs)).toThrow(
      new ModelFormatError(
        'output "output_probability" is not a tensor but a sequence or a map (such as skl2onnx\'s default ZipMap output), ' +
          'which ONNX Runtime for Node cannot return and no protocol carries; export the model without it: for a ' +
          'scikit-learn classifier, skl2onnx\'s to_onnx(model, X, options={"zipmap": False}) gives the probabilities as a float tensor [N, classes]',
      ),
    );
  });

  it('names every problem at once', () => {
    const inputs: OnnxValueMetadata[] = [{ name: 'm', isTensor: false }, tensor('q', 'int4', [2])];

    expect(() => onnxSignature(inputs, [tensor('y', 'uint4', [2])])).toThrow(
      'input "m" is not a tensor but a sequence or a map, which no protocol can send; ' +
        'input "q" has element type int4, which the service cannot exchange; ' +
        'output "y" has element type uint4, which the service cannot exchange',
    );
  });
});
