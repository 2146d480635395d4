import { ModelFormatError } from '../model-errors';
import type { ModelSignature, TensorDType, TensorSpec } from '../model-types';
import { isOnnxElementType } from './onnx-tensors';

/**
 * What ONNX Runtime says about one input or output of a session (`InferenceSession.ValueMetadata`
 * in onnxruntime-node 1.30), as plain data that can cross a worker boundary.
 */
export interface OnnxValueMetadata {
  name: string;
  isTensor: boolean;
  /** The element type, for tensors. */
  type?: string;
  /**
   * For tensors: a number per fixed dimension, a string per symbolic one (its name, or '' when
   * the model leaves it unnamed). Empty both for a scalar and for an undeclared rank.
   */
  shape?: readonly (number | string)[];
}

/** How to export a scikit-learn classifier so that its probabilities are a tensor. */
export const ZIPMAP_ADVICE =
  'export the model without it: for a scikit-learn classifier, skl2onnx\'s to_onnx(model, X, options={"zipmap": False}) ' +
  'gives the probabilities as a float tensor [N, classes]';

/**
 * The service's signature of an ONNX model, from ONNX Runtime's metadata: names in the model's
 * order, element types, shapes with every symbolic dimension as -1. Refuses, naming every
 * problem at once, a model whose inputs or outputs the service cannot exchange.
 */
export function onnxSignature(inputs: readonly OnnxValueMetadata[], outputs: readonly OnnxValueMetadata[]): ModelSignature {
  const problems: string[] = [];
  const specs = (values: readonly OnnxValueMetadata[], role: 'input' | 'output'): TensorSpec[] =>
    values.flatMap((value) => {
      const problem = problemOf(value, role);
      if (problem) {
        problems.push(problem);
        return [];
      }
      return [{ name: value.name, dtype: value.type as TensorDType, shape: shapeOf(value.shape ?? []) }];
    });
  const signature = { inputs: specs(inputs, 'input'), outputs: specs(outputs, 'output') };
  if (problems.length > 0) throw new ModelFormatError(problems.join('; '));
  return signature;
}

function problemOf(value: OnnxValueMetadata, role: 'input' | 'output'): string | undefined {
  const subject = `${role} "${value.name}"`;
  if (!value.isTensor) {
    if (role === 'output') {
      return (
        `${subject} is not a tensor but a sequence or a map (such as skl2onnx's default ZipMap output), which ` +
        `ONNX Runtime for Node cannot return and no protocol carries; ${ZIPMAP_ADVICE}`
      );
    }
    return `${subject} is not a tensor but a sequence or a map, which no protocol can send`;
  }
  const type = value.type ?? 'unknown';
  if (!isOnnxElementType(type)) return `${subject} has element type ${type}, which the service cannot exchange`;
  return undefined;
}

/**
 * ONNX Runtime 1.30 reports both a scalar and an undeclared rank as `[]`, and does not hold a
 * scalar input to its rank either; so `[]` is taken as "any shape" (null).
 */
function shapeOf(shape: readonly (number | string)[]): number[] | null {
  if (shape.length === 0) return null;
  return shape.map((dim) => (typeof dim === 'number' && dim >= 0 ? dim : -1));
}
