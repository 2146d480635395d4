import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TfjsModelLoader } from '../model/model-loader';
import { createTfjsRuntime } from '../model/tfjs-runtime';
import { parseTrainArgs, trainIris, TRAIN_USAGE } from './train';

const REPOSITORY = '/srv/models';
const DOCUMENTED_OPTIONS = ['--epochs', '--seed', '--test-fraction', '--min-accuracy', '--repository', '--model', '--help'];

describe('parseTrainArgs', () => {
  it('takes the documented defaults when given no option', () => {
    expect(parseTrainArgs([], REPOSITORY)).toEqual({
      help: false,
      options: { repository: REPOSITORY, model: 'iris', epochs: 150, seed: 42, testFraction: 0.2, minAccuracy: 0.93 },
    });
  });

  it('reads every option', () => {
    const args = [
      '--epochs',
      '7',
      '--seed',
      '3',
      '--test-fraction',
      '0.3',
      '--min-accuracy',
      '0.5',
      '--repository',
      '/tmp/r',
      '--model',
      'flowers',
    ];
    expect(parseTrainArgs(args, REPOSITORY)).toEqual({
      help: false,
      options: { repository: '/tmp/r', model: 'flowers', epochs: 7, seed: 3, testFraction: 0.3, minAccuracy: 0.5 },
    });
  });

  it.each([['--help'], ['-h']])('answers %s with help', (flag) => {
    expect(parseTrainArgs([flag], REPOSITORY)).toEqual({ help: true });
  });

  it('points at the "--" when npm kept the option and passed on only its value', () => {
    // What `npm run train --epochs 5` runs.
    expect(() => parseTrainArgs(['5'], REPOSITORY)).toThrow(/Unexpected argument '5'.*npm run train -- --epochs 5/);
  });

  it('refuses an unknown option and says where the list is', () => {
    expect(() => parseTrainArgs(['--epoch', '5'], REPOSITORY)).toThrow(/Unknown option '--epoch'.*npm run train -- --help/);
  });

  it.each([
    [['--epochs', '0'], /--epochs must be a positive integer/],
    [['--seed', '1.5'], /--seed must be a positive integer/],
    [['--test-fraction', '0.95'], /--test-fraction must be a number from 0.01 to 0.9/],
    [['--min-accuracy', ''], /--min-accuracy must be a number from 0 to 1/],
    [['--model', '../iris'], /--model must be a model folder name/],
  ])('refuses %j', (args, message) => {
    expect(() => parseTrainArgs(args, REPOSITORY)).toThrow(message);
  });
});

describe('TRAIN_USAGE', () => {
  it('shows the "--" and documents every option the parser accepts', () => {
    expect(TRAIN_USAGE).toMatch(/^Usage: npm run train -- \[options\]/);
    const documented = [...TRAIN_USAGE.matchAll(/^\s+(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]);
    expect(documented).toEqual(DOCUMENTED_OPTIONS);
    for (const option of documented.filter((o) => o !== '--help')) {
      expect(() => parseTrainArgs([option, '1'], REPOSITORY)).not.toThrow(/Unknown option/);
    }
  });
});

describe(trainIris.name, () => {
  let repository: string;

  beforeAll(async () => {
    await createTfjsRuntime('wasm');
    repository = await mkdtemp(join(tmpdir(), 'train-'));
  });

  afterAll(() => rm(repository, { recursive: true, force: true }));

  it('trains, then publishes a model the server loads, as the next version', async () => {
    const lines: string[] = [];
    const options = { repository, model: 'iris', epochs: 30, seed: 42, testFraction: 0.2, minAccuracy: 0.8 };

    const first = await trainIris({ ...options, print: (line) => lines.push(line) });
    const second = await trainIris({ ...options, print: () => undefined });

    expect(lines).toHaveLength(30);
    expect(lines[29]).toMatch(/^epoch {2}30\/30 {2}loss \d\.\d{4} {2}accuracy \d\.\d{4}/);
    expect([first.version, second.version]).toEqual([1, 2]);
    expect(first.testAccuracy).toBeGreaterThanOrEqual(0.8);
    expect((await readdir(join(repository, 'iris'))).sort()).toEqual(['1', '2']);
    const metadata = JSON.parse(await readFile(join(first.directory, 'metadata.json'), 'utf8'));
    expect(metadata.labels).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(metadata.training).toMatchObject({ epochs: 30, seed: 42, trainRows: 120, testRows: 30 });
    const loaded = await new TfjsModelLoader(await createTfjsRuntime('wasm')).load(first.directory);
    const output = await loaded.infer({
      [loaded.description.signature.inputs[0].name]: { data: new Float32Array([5.1, 3.5, 1.4, 0.2]), shape: [1, 4], dtype: 'float32' },
    });
    const probabilities = Array.from(Object.values(output)[0].data as Float32Array);
    expect(probabilities.indexOf(Math.max(...probabilities))).toBe(0);
    loaded.dispose();
  });

  it('writes nothing when the held-out accuracy is below the minimum', async () => {
    const options = { repository, model: 'weak', epochs: 1, seed: 42, testFraction: 0.2, minAccuracy: 1 };
    await expect(trainIris({ ...options, print: () => undefined })).rejects.toThrow(/below the minimum 1; nothing written/);
    expect(await readdir(repository)).not.toContain('weak');
  });
});
