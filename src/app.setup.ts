import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Logger as Pino } from 'pino';
import type { AllConfig } from './config/configuration';
import { packageVersion } from './config/server-info';
import { REQUEST_ID_HEADER, requestIdOf } from './common/request-id';

export const DOCS_PATH = 'docs';

/**
 * The Fastify adapter with the service's HTTP settings: its pino logger (request logs carry
 * the request id), body limit, keep-alive, and the X-Request-Id header on every response.
 * Shared by main.ts and the end-to-end tests, so both run the same HTTP stack.
 */
export function createHttpAdapter(config: AllConfig, logger: Pino): FastifyAdapter {
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // One line per request at info level would drown the state changes; see onResponse below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    genReqId: requestIdOf,
    bodyLimit: config.http.bodyLimitBytes,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    return503OnClosing: true,
    // `/v2/` is the Open Inference Protocol's server metadata route, as is `/v2`.
    routerOptions: { ignoreTrailingSlash: true },
  });
  const fastify = adapter.getInstance();
  // Only JSON bodies: anything else (text/plain included, which Fastify takes by default)
  // is answered 415.
  fastify.removeContentTypeParser('text/plain');
  // Once the server is closing, each answer asks the client to close its connection, so
  // keep-alive clients (a proxy's upstream pool) let the process exit when it has answered.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (request, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    request.log.debug(
      { method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100 },
      'request completed',
    );
    done();
  });
  return adapter;
}

/** The OpenAPI document, served as Swagger UI at /docs and as JSON at /docs-json. */
export function setupOpenApi(app: NestFastifyApplication, serviceName: string): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(serviceName)
      .setDescription(
        'Predictions from TensorFlow.js models served from the model repository, ' +
          'with Kubernetes health probes. Every error answers `{statusCode, error, message, details?, requestId}`.',
      )
      .setVersion(packageVersion())
      .addTag('prediction', 'The simple prediction API of the default model')
      .addTag('models', 'The model repository: models, versions, states; load, unload and reload')
      .addTag('health', 'Liveness, readiness and start-up probes')
      .addTag('open inference protocol (v2)', 'KServe V2, as Triton and MLServer serve it; errors are {"error": "..."}')
      .addTag('tf serving (v1)', "TF Serving's REST API; errors are {\"error\": \"...\"}")
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, for the mutating /models routes' })
      .build(),
  );
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: `${serviceName} API`,
  });
}

