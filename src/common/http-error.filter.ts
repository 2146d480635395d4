import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { errorAnswer } from './error-answer';
import { RouteErrorShape } from './route-error-shape';

/**
 * The one error contract: every error a route, a pipe, a guard or a body parser throws is
 * answered through `errorAnswer`, in the error shape its route declares. Client errors say
 * what was wrong and where; a 5xx says only "internal error", and its cause goes to the log
 * under the request id. The health checks' reports pass through unchanged.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly shape: RouteErrorShape,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const context = host.switchToHttp();
    const request = context.getRequest<{ id?: string }>();
    const response: unknown = context.getResponse();

    if (exception instanceof HttpException && isReport(exception.getResponse())) {
      httpAdapter.reply(response, exception.getResponse(), exception.getStatus());
      return;
    }
    const requestId = String(request.id ?? '');
    const answer = errorAnswer(exception, this.shape.of(request), requestId);
    if (answer.unexpected) {
      this.logger.error(
        { requestId, err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception },
        'request failed',
      );
    }
    for (const [name, value] of Object.entries(answer.headers)) httpAdapter.setHeader(response, name, value);
    httpAdapter.reply(response, answer.body, answer.status);
  }
}

/** A health check report (`{status, info, error, details}`) rather than an error message. */
function isReport(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'status' in body && 'details' in body && !('message' in body);
}
