import type { NestApplicationOptions } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { packageVersion } from './config/server-info';
import { DOCS_PATH } from './http/http-edge';

/**
 * Options for NestFactory.create and createNestApplication: Nest's own body parsers are off
 * (the HTTP edge parses JSON and binary tensor data, and nothing else), and a failing start
 * reaches main.ts's catch instead of Nest ending the process itself.
 */
export const NEST_APPLICATION_OPTIONS: NestApplicationOptions = { bodyParser: false, abortOnError: false };

/** The OpenAPI document, served as Swagger UI at /docs and as JSON at /docs-json. */
export function setupOpenApi(app: NestFastifyApplication, serviceName: string): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(serviceName)
      .setDescription(
        'Predictions from TensorFlow.js models served from the model repository, ' +
          "with Kubernetes health probes. Errors of the service's own routes answer `{statusCode, error, message, details?, requestId}`; " +
          'the Open Inference Protocol (V2) and TF Serving (V1) routes answer `{"error": "..."}` as those protocols do.',
      )
      .setVersion(packageVersion())
      .addTag('prediction', 'The simple prediction API, for the default model or any other')
      .addTag('open inference protocol (v2)', 'KServe V2, as Triton and MLServer serve it; errors are {"error": "..."}')
      .addTag('tf serving (v1)', 'TF Serving\'s REST API; errors are {"error": "..."}')
      .addTag('models', 'The model repository: models, versions, states; load, unload and reload')
      .addTag('health', 'Liveness, readiness and start-up probes')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, for the mutating /models routes' })
      .build(),
  );
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: `${serviceName} API`,
  });
}
