import type { HostTensor } from '../model/model-types';

export interface RowPrediction {
  prediction: string | number;
  probabilities?: Record<string, number>;
  outputs?: number[];
}

/**
 * Splits a model output of shape [rows, ...] into one prediction per row. With labels (one per
 * output column) each row gets its most likely label and a probability per label; without,
 * the index of the largest value and the raw values.
 */
export function mapOutputRows(output: HostTensor, labels?: readonly string[]): RowPrediction[] {
  const rows = output.shape[0] ?? 1;
  const width = rows === 0 ? 0 : output.data.length / rows;
  const named = labels !== undefined && labels.length === width;
  const predictions: RowPrediction[] = [];
  for (let r = 0; r < rows; r++) {
    const values = Array.from(output.data.subarray(r * width, (r + 1) * width), Number);
    const best = argmax(values);
    if (named) {
      const probabilities: Record<string, number> = {};
      labels.forEach((label, i) => (probabilities[label] = values[i]));
      predictions.push({ prediction: labels[best], probabilities });
    } else {
      predictions.push({ prediction: best, outputs: values });
    }
  }
  return predictions;
}

/** Index of the largest value; the first one on ties. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
