import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module';
import { NEST_APPLICATION_OPTIONS, setupOpenApi } from './app.setup';
import { createPino, PinoLoggerService } from './common/pino-logger';
import { listenOnSharedPort } from './http/shared-port';
import { loadConfiguration } from './config/configuration';
import { createHttpAdapter } from './http/fastify-adapter';

async function bootstrap(): Promise<void> {
  const config = loadConfiguration();
  const pino = createPino(config.logging.level, config.logging.format);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, createHttpAdapter(config, pino), {
    ...NEST_APPLICATION_OPTIONS,
    logger: new PinoLoggerService(pino),
  });
  // SIGTERM: readiness fails, in-flight requests finish, models are disposed, exit code 0.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  setupOpenApi(app, config.http.serviceName);
  const sockets = await listenOnSharedPort(app, config.http.port, config.http.host);
  Logger.log(`listening on ${await app.getUrl()} (${sockets} socket${sockets > 1 ? 's' : ''})`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  // The logger may not exist yet (a bad environment fails before it): write plainly.
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', msg: 'failed to start', err: String(error instanceof Error ? error.message : error) })}\n`,
  );
  process.exit(1);
});
