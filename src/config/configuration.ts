import { ConfigType, registerAs } from '@nestjs/config';
import type { RequiredModels } from '../model/readiness';
import { validateEnvironment } from './environment';

export const httpConfig = registerAs('http', () => {
  const env = validateEnvironment();
  return {
    port: env.PORT,
    host: env.HOST,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
    requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
    drainTimeoutMs: env.SHUTDOWN_DRAIN_TIMEOUT_MS,
    maxInFlightRequests: env.MAX_IN_FLIGHT_REQUESTS,
    corsOrigins: env.CORS_ORIGINS ? env.CORS_ORIGINS.split(',').map((origin) => origin.trim()) : [],
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    warmUpRequests: env.HTTP_WARM_UP_REQUESTS,
    serviceName: env.SERVICE_NAME,
  };
});

export const modelConfig = registerAs('model', () => {
  const env = validateEnvironment();
  return {
    repository: env.MODEL_REPOSITORY,
    defaultModel: env.DEFAULT_MODEL,
    requiredModels: requiredModels(env.REQUIRED_MODELS, env.DEFAULT_MODEL),
    backend: env.TFJS_BACKEND,
    onnx: {
      intraOpThreads: env.ONNX_INTRA_OP_THREADS,
      graphOptimizationLevel: env.ONNX_GRAPH_OPTIMIZATION_LEVEL,
      execution: env.ONNX_EXECUTION,
    },
    pollIntervalMs: env.MODEL_POLL_INTERVAL_MS,
    batching: {
      enabled: env.BATCHING_ENABLED === 'true',
      maxBatchSize: env.MAX_BATCH_SIZE,
      maxQueueDelayMs: env.MAX_QUEUE_DELAY_MS,
      maxQueueSize: env.MAX_QUEUE_SIZE,
      timeoutMs: env.REQUEST_TIMEOUT_MS,
    },
  };
});

/** `*`, a list of names, or (unset) the default model alone. */
function requiredModels(value: string | undefined, defaultModel: string): RequiredModels {
  if (value === '*') return { kind: 'every' };
  return { kind: 'listed', names: value ? [...new Set(value.split(',').map((name) => name.trim()))] : [defaultModel] };
}

export const managementConfig = registerAs('management', () => {
  const env = validateEnvironment();
  return {
    adminToken: env.ADMIN_TOKEN,
  };
});

export const predictionConfig = registerAs('prediction', () => {
  const env = validateEnvironment();
  return {
    maxBatchRows: env.MAX_BATCH_ROWS,
  };
});

export const loggingConfig = registerAs('logging', () => {
  const env = validateEnvironment();
  return {
    level: env.LOG_LEVEL,
    format: env.LOG_FORMAT,
  };
});

export interface AllConfig {
  http: ConfigType<typeof httpConfig>;
  model: ConfigType<typeof modelConfig>;
  prediction: ConfigType<typeof predictionConfig>;
  management: ConfigType<typeof managementConfig>;
  logging: ConfigType<typeof loggingConfig>;
}

export const CONFIG_NAMESPACES = [httpConfig, modelConfig, predictionConfig, managementConfig, loggingConfig];

/** The whole configuration at once, for code that runs before Nest's container exists. */
export function loadConfiguration(): AllConfig {
  return {
    http: httpConfig(),
    model: modelConfig(),
    prediction: predictionConfig(),
    management: managementConfig(),
    logging: loggingConfig(),
  };
}
