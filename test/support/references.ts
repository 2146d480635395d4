/**
 * What the test models should answer, computed in the tests with TF.js ops, independently of
 * the server's inference path: the protocol specs compare the server's outputs with these.
 */
import * as tf from '../../src/model/tfjs';
import { readModelArtifacts } from '../../src/model/model-artifacts';
import type { WrittenIntGraphModel, WrittenMultiGraphModel } from '../fixtures/model-builders';

/** Rows for the two-input Graph model (`writeMultiGraphModel`): its inputs a and b. */
export const MULTI_A = [
  [0.5, -1.25],
  [3, 7.75],
];
export const MULTI_B = [
  [2, 0.125],
  [-4, 1],
];

/**
 * Outputs of a Layers model of Dense layers (the shipped iris model) for `rows`, computed layer
 * by layer from its weights on disk: rows of class probabilities.
 */
export async function denseReference(versionDir: string, rows: number[][]): Promise<number[][]> {
  const artifacts = await readModelArtifacts(versionDir);
  const topology = artifacts.modelTopology as {
    config: { layers: { class_name: string; config: { name: string; activation: string } }[] };
  };
  const weights = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
  const activations: Record<string, (x: tf.Tensor) => tf.Tensor> = { linear: (x) => x, relu: tf.relu, softmax: tf.softmax };
  try {
    return tf.tidy(() => {
      let x: tf.Tensor = tf.tensor2d(rows);
      for (const { class_name: kind, config } of topology.config.layers) {
        if (kind !== 'Dense' || !activations[config.activation])
          throw new Error(`the reference computes Dense layers only, not ${kind}/${config.activation}`);
        x = activations[config.activation](tf.add(tf.matMul(x, weights[`${config.name}/kernel`]), weights[`${config.name}/bias`]));
      }
      return x.arraySync() as number[][];
    });
  } finally {
    tf.dispose(Object.values(weights));
  }
}

/** The two-input model's outputs, as rows: `sum` = a + b and `scaled` = a * w, float32. */
export function multiReference(written: WrittenMultiGraphModel, a = MULTI_A, b = MULTI_B): Record<string, number[][]> {
  return tf.tidy(() => ({
    [written.sumName]: tf.add(tf.tensor2d(a), tf.tensor2d(b)).arraySync() as number[][],
    [written.scaledName]: tf.mul(tf.tensor2d(a), tf.tensor1d(written.weight)).arraySync() as number[][],
  }));
}

/** The int32 model's output, as rows: `counts + step`. */
export function intsReference(written: WrittenIntGraphModel, rows: number[][]): number[][] {
  return tf.tidy(() => tf.add(tf.tensor2d(rows, undefined, 'int32'), tf.tensor1d(written.step, 'int32')).arraySync() as number[][]);
}

/** Flat values each within 1e-6 of the expected ones. */
export function expectCloseTo(actual: unknown, expected: number[]): void {
  expect(Array.isArray(actual)).toBe(true);
  const values = actual as number[];
  expect(values).toHaveLength(expected.length);
  values.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 6));
}

/** Rows of values each within 1e-6 of the expected ones. */
export function expectRowsCloseTo(actual: unknown, expected: number[][]): void {
  expect(Array.isArray(actual)).toBe(true);
  const rows = actual as number[][];
  expect(rows.map((row) => row.length)).toEqual(expected.map((row) => row.length));
  rows.forEach((row, r) => row.forEach((value, c) => expect(value).toBeCloseTo(expected[r][c], 6)));
}
