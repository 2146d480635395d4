import type { RequiredModels } from '../model/readiness';
import { modelConfig } from './configuration';
import { InvalidEnvironmentError, validateEnvironment } from './environment';

describe(validateEnvironment.name, () => {
  it('gives the documented defaults for an empty environment', () => {
    const env = validateEnvironment({});

    expect(env).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      MODEL_REPOSITORY: 'models',
      DEFAULT_MODEL: 'iris',
      TFJS_BACKEND: 'auto',
      LOG_LEVEL: 'info',
      BODY_LIMIT_BYTES: 1024 * 1024,
      MAX_BATCH_ROWS: 1000,
      SHUTDOWN_DELAY_MS: 0,
      ONNX_INTRA_OP_THREADS: 1,
      ONNX_GRAPH_OPTIMIZATION_LEVEL: 'all',
      ONNX_EXECUTION: 'auto',
    });
  });

  it('reads set values and treats empty ones as unset', () => {
    const env = validateEnvironment({ PORT: '9000', TFJS_BACKEND: 'cpu', MAX_BATCH_ROWS: ' 64 ', HOST: '' });

    expect(env).toMatchObject({ PORT: 9000, TFJS_BACKEND: 'cpu', MAX_BATCH_ROWS: 64, HOST: '0.0.0.0' });
  });

  it('reads the ONNX Runtime session settings', () => {
    const env = validateEnvironment({ ONNX_INTRA_OP_THREADS: '4', ONNX_GRAPH_OPTIMIZATION_LEVEL: 'basic', ONNX_EXECUTION: 'event-loop' });

    expect(env).toMatchObject({ ONNX_INTRA_OP_THREADS: 4, ONNX_GRAPH_OPTIMIZATION_LEVEL: 'basic', ONNX_EXECUTION: 'event-loop' });
  });

  it.each([
    ['PORT', 'abc', 'PORT must be an integer number'],
    ['PORT', '8e3', 'PORT must be an integer number'],
    ['PORT', '70000', 'PORT must not be greater than 65535'],
    ['TFJS_BACKEND', 'gpu', 'TFJS_BACKEND must be one of the following values: auto, tensorflow, wasm, cpu'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of the following values'],
    ['DEFAULT_MODEL', '../etc', 'DEFAULT_MODEL must be a model folder name'],
    ['BODY_LIMIT_BYTES', '10', 'BODY_LIMIT_BYTES must not be less than 1024'],
    ['MAX_BATCH_ROWS', '0', 'MAX_BATCH_ROWS must not be less than 1'],
    ['REQUIRED_MODELS', 'iris,../etc', 'REQUIRED_MODELS must be "*" or a comma-separated list of model folder names'],
    ['REQUIRED_MODELS', '*,iris', 'REQUIRED_MODELS must be "*" or a comma-separated list of model folder names'],
    ['ONNX_INTRA_OP_THREADS', '0', 'ONNX_INTRA_OP_THREADS must not be less than 1'],
    ['ONNX_INTRA_OP_THREADS', '2.5', 'ONNX_INTRA_OP_THREADS must be an integer number'],
    [
      'ONNX_GRAPH_OPTIMIZATION_LEVEL',
      'max',
      'ONNX_GRAPH_OPTIMIZATION_LEVEL must be one of the following values: disabled, basic, extended, layout, all',
    ],
    ['ONNX_EXECUTION', 'thread', 'ONNX_EXECUTION must be one of the following values: auto, worker, event-loop'],
  ])('refuses %s=%s with a message naming the variable and its value', (name, value, message) => {
    const attempt = () => validateEnvironment({ [name]: value });

    expect(attempt).toThrow(InvalidEnvironmentError);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(`(got ${JSON.stringify(value)})`);
  });

  it('lists every bad variable at once', () => {
    const attempt = () => validateEnvironment({ PORT: 'x', TFJS_BACKEND: 'gpu' });

    expect(attempt).toThrow(/PORT.*; TFJS_BACKEND/);
  });
});

describe(modelConfig.name, () => {
  it.each<[string | undefined, RequiredModels]>([
    [undefined, { kind: 'listed', names: ['iris'] }],
    ['*', { kind: 'every' }],
    ['iris, mnist,iris', { kind: 'listed', names: ['iris', 'mnist'] }],
  ])('reads REQUIRED_MODELS=%s as the models readiness waits for (unset: the default model)', (value, required) => {
    process.env.REQUIRED_MODELS = value ?? '';

    expect(modelConfig().requiredModels).toEqual(required);
  });
});
