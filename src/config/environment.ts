import { plainToInstance } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

export const TFJS_BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackendChoice = (typeof TFJS_BACKEND_CHOICES)[number];

/** ONNX Runtime's graph optimization levels (`SessionOptions.graphOptimizationLevel`). */
export const ONNX_GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'layout', 'all'] as const;
export type OnnxGraphOptimizationLevel = (typeof ONNX_GRAPH_OPTIMIZATION_LEVELS)[number];

/**
 * Where an ONNX session's `run` runs: a worker thread per model version, the event loop itself,
 * or (`auto`) the event loop for a version that runs a full batch in about a millisecond and a
 * worker thread for any other.
 */
export const ONNX_EXECUTIONS = ['auto', 'worker', 'event-loop'] as const;
export type OnnxExecution = (typeof ONNX_EXECUTIONS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Model names are folder names inside the repository: no separators, no dots first. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const MIB = 1024 * 1024;

/**
 * Every variable the service reads, with its default. Values arrive as strings and are
 * converted before validation; a bad one stops the boot with a message naming it.
 */
export class EnvironmentVariables {
  @Min(0)
  @Max(65535)
  @IsInt()
  PORT = 8080;

  @IsNotEmpty()
  @IsString()
  HOST = '0.0.0.0';

  @IsNotEmpty()
  @IsString()
  MODEL_REPOSITORY = 'models';

  @Matches(MODEL_NAME_PATTERN, {
    message: 'DEFAULT_MODEL must be a model folder name (letters, digits, "_" and "-", at most 64)',
  })
  DEFAULT_MODEL = 'iris';

  /**
   * The models a replica must serve to be ready: `*` for every model in the repository, or a
   * comma-separated list; unset, the default model. Others may be broken or loading without
   * taking the replica out of rotation.
   */
  @IsOptional()
  @Matches(/^(\*|[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\s*,\s*[A-Za-z0-9][A-Za-z0-9_-]{0,63})*)$/, {
    message: 'REQUIRED_MODELS must be "*" or a comma-separated list of model folder names',
  })
  REQUIRED_MODELS?: string;

  @IsIn(TFJS_BACKEND_CHOICES)
  TFJS_BACKEND: TfjsBackendChoice = 'auto';

  /**
   * Threads one ONNX inference may use (ONNX Runtime's intra-op pool, the calling thread
   * included). 1 suits one replica per core; raise it for a replica with cores of its own.
   */
  @Min(1)
  @Max(256)
  @IsInt()
  ONNX_INTRA_OP_THREADS = 1;

  /** How much ONNX Runtime rewrites a graph at load (fused operators, constants folded). */
  @IsIn(ONNX_GRAPH_OPTIMIZATION_LEVELS)
  ONNX_GRAPH_OPTIMIZATION_LEVEL: OnnxGraphOptimizationLevel = 'all';

  /** `auto`: a fast ONNX version runs on the event loop, any other in a thread of its own. */
  @IsIn(ONNX_EXECUTIONS)
  ONNX_EXECUTION: OnnxExecution = 'auto';

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  @IsIn(LOG_FORMATS)
  LOG_FORMAT: LogFormat = 'auto';

  /** Largest request body accepted, in bytes (Fastify's own default is 1 MiB). */
  @Min(1024)
  @Max(256 * MIB)
  @IsInt()
  BODY_LIMIT_BYTES = MIB;

  /** Most rows one prediction request may carry. */
  @Min(1)
  @Max(1_000_000)
  @IsInt()
  MAX_BATCH_ROWS = 1000;

  /** How long a replica keeps serving after SIGTERM while reporting not ready. */
  @Min(0)
  @Max(300_000)
  @IsInt()
  SHUTDOWN_DELAY_MS = 0;

  /**
   * Requests a replica sends itself through its HTTP stack once its models have loaded, before
   * it reports ready, so that its first real requests run on compiled code; 0 turns it off.
   */
  @Min(0)
  @Max(100_000)
  @IsInt()
  HTTP_WARM_UP_REQUESTS = 600;

  /** Longest time a client may take to send a whole request (headers and body). */
  @Min(1000)
  @Max(600_000)
  @IsInt()
  HTTP_REQUEST_TIMEOUT_MS = 30_000;

  /** After the server stops accepting, how long requests in flight may take before their connections are closed. */
  @Min(0)
  @Max(600_000)
  @IsInt()
  SHUTDOWN_DRAIN_TIMEOUT_MS = 10_000;

  /** Fastify's keep-alive timeout; longer than a proxy's upstream keep-alive. */
  @Min(1000)
  @Max(600_000)
  @IsInt()
  KEEP_ALIVE_TIMEOUT_MS = 72_000;

  @Matches(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, {
    message: 'SERVICE_NAME must be 1 to 64 letters, digits, spaces, ".", "_" or "-"',
  })
  SERVICE_NAME = 'ml-microservice';

  /** How often the model repository is checked for new, changed and removed versions; 0 turns it off. */
  @Min(0)
  @Max(86_400_000)
  @IsInt()
  MODEL_POLL_INTERVAL_MS = 10_000;

  /** Merge concurrent requests to a model version into one inference (per model: config.json). */
  @IsIn(['true', 'false'])
  BATCHING_ENABLED: 'true' | 'false' = 'true';

  /** Most rows in one merged inference. */
  @Min(1)
  @Max(100_000)
  @IsInt()
  MAX_BATCH_SIZE = 64;

  /** Longest a queued request waits for a fuller batch while the model is idle; 0 never waits. */
  @Min(0)
  @Max(60_000)
  @IsInt()
  MAX_QUEUE_DELAY_MS = 0;

  /** Most rows waiting per model version; more are refused with 429 at once. */
  @Min(1)
  @Max(10_000_000)
  @IsInt()
  MAX_QUEUE_SIZE = 2048;

  /**
   * Most inference requests in flight (received, not yet answered) per process; more are
   * answered 429 at once, before their bodies are read, so an overloaded replica stays responsive.
   */
  @Min(1)
  @Max(1_000_000)
  @IsInt()
  MAX_IN_FLIGHT_REQUESTS = 256;

  /** A request still waiting for its model after this long is answered 504, its rows not run. */
  @Min(1)
  @Max(600_000)
  @IsInt()
  REQUEST_TIMEOUT_MS = 5000;

  /**
   * Browser origins allowed to call the API (CORS), comma-separated (`https://app.example.com`),
   * or `*`; unset, no cross-origin browser request is allowed.
   */
  @IsOptional()
  @Matches(/^(\*|https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(,\s*https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?)*)$/, {
    message: 'CORS_ORIGINS must be "*" or a comma-separated list of origins such as https://app.example.com',
  })
  CORS_ORIGINS?: string;

  /** Bearer token of the model management routes; unset turns them off. */
  @IsOptional()
  @MinLength(16, { message: 'ADMIN_TOKEN must be at least 16 characters long' })
  @MaxLength(1024)
  @IsString()
  ADMIN_TOKEN?: string;
}

/** Every variable read, including optional ones that have no default. */
const ENVIRONMENT_KEYS = [...Object.keys(new EnvironmentVariables()), 'ADMIN_TOKEN', 'CORS_ORIGINS', 'REQUIRED_MODELS'];

const INTEGER_VARIABLES = new Set<string>([
  'PORT',
  'BODY_LIMIT_BYTES',
  'MAX_BATCH_ROWS',
  'SHUTDOWN_DELAY_MS',
  'HTTP_WARM_UP_REQUESTS',
  'KEEP_ALIVE_TIMEOUT_MS',
  'MODEL_POLL_INTERVAL_MS',
  'HTTP_REQUEST_TIMEOUT_MS',
  'MAX_BATCH_SIZE',
  'MAX_QUEUE_DELAY_MS',
  'MAX_QUEUE_SIZE',
  'REQUEST_TIMEOUT_MS',
  'MAX_IN_FLIGHT_REQUESTS',
  'SHUTDOWN_DRAIN_TIMEOUT_MS',
  'ONNX_INTRA_OP_THREADS',
]);

const SECRET_VARIABLES = new Set(['ADMIN_TOKEN']);

export class InvalidEnvironmentError extends Error {
  override readonly name = 'InvalidEnvironmentError';
}

/**
 * Reads and validates the environment. Unset or empty variables take their defaults;
 * integers must be written as plain decimal integers ("8080", not "8e3" or "80.5").
 */
export function validateEnvironment(env: Record<string, string | undefined> = process.env): EnvironmentVariables {
  const raw: Record<string, unknown> = {};
  for (const key of ENVIRONMENT_KEYS) {
    const value = env[key];
    if (value === undefined || value.trim() === '') continue;
    raw[key] = INTEGER_VARIABLES.has(key) ? parseInteger(value) : value.trim();
  }
  const parsed = plainToInstance(EnvironmentVariables, raw, { exposeDefaultValues: true });
  // One message per variable: the first rule it breaks.
  const errors = validateSync(parsed, { whitelist: true, forbidUnknownValues: true, stopAtFirstError: true });
  if (errors.length > 0) {
    throw new InvalidEnvironmentError(`invalid environment: ${errors.map((e) => describe(e, env)).join('; ')}`);
  }
  return parsed;
}

function parseInteger(value: string): number {
  return /^[+-]?\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
}

function describe(error: ValidationError, env: Record<string, string | undefined>): string {
  const messages = Object.values(error.constraints ?? {}).join(', ');
  // Secrets are named, never echoed.
  const shown = SECRET_VARIABLES.has(error.property) ? 'a value that is not shown' : JSON.stringify(env[error.property]);
  return `${messages} (got ${shown})`;
}
