import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import { AppModule } from '../../src/app.module';
import { NEST_APPLICATION_OPTIONS, setupOpenApi } from '../../src/app.setup';
import { createPino } from '../../src/common/pino-logger';
import { loadConfiguration } from '../../src/config/configuration';
import { createHttpAdapter } from '../../src/http/fastify-adapter';

export const SHIPPED_MODELS = join(__dirname, '..', '..', 'models');

export interface TestAppOptions {
  /** Environment variables for this app (jest gives each test file its own process.env). */
  env?: Record<string, string>;
  /** Provider overrides on the testing module. */
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}

/**
 * The real application, built from AppModule with the same HTTP adapter and OpenAPI setup
 * as main.ts, for `app.inject(...)`: no socket is opened.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<NestFastifyApplication> {
  // No warm-up unless a test asks for it: these apps answer injected requests only.
  Object.assign(process.env, { MODEL_REPOSITORY: SHIPPED_MODELS, LOG_LEVEL: 'silent', HTTP_WARM_UP_REQUESTS: '0', ...options.env });
  const builder = Test.createTestingModule({ imports: [AppModule] });
  const moduleRef = await (options.override ? options.override(builder) : builder).compile();
  const config = loadConfiguration();
  const pino = createPino(config.logging.level, 'json');
  const app = moduleRef.createNestApplication<NestFastifyApplication>(createHttpAdapter(config, pino), {
    ...NEST_APPLICATION_OPTIONS,
    logger: false,
  });
  setupOpenApi(app, config.http.serviceName);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** Polls a probe until it answers 200. */
async function waitForProbe(app: NestFastifyApplication, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await app.inject({ method: 'GET', url });
    if (response.statusCode === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} not 200 after ${timeoutMs} ms: ${response.body}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until every served model is loaded and warmed. */
export function waitUntilReady(app: NestFastifyApplication, timeoutMs = 15_000): Promise<void> {
  return waitForProbe(app, '/health/ready', timeoutMs);
}

/** Waits until the start-up load has finished, whatever its outcome. */
export function waitUntilStarted(app: NestFastifyApplication, timeoutMs = 15_000): Promise<void> {
  return waitForProbe(app, '/health/startup', timeoutMs);
}
