import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import type { AllConfig } from '../config/configuration';
import {
  DeadlineExceededError,
  InvalidInputError,
  ModelLoadError,
  ModelNotFoundError,
  ModelNotReadyError,
  QueueFullError,
} from '../model/model-errors';
import { errorBody, OVERLOAD_RETRY_AFTER_SECONDS, OVERLOAD_STATUS } from './error-body';
import type { ErrorDetailDto } from './error-response.dto';

/** Seconds a client should wait before retrying a model that is not ready. */
const RETRY_AFTER_SECONDS = '5';

/**
 * The one error contract of the service: `{statusCode, error, message, details?, requestId}`.
 * Client errors say what was wrong and where; a 5xx says only "internal error", and its cause
 * goes to the log under the request id. Bodies that are not errors of this contract (the
 * health checks' reports) pass through unchanged. The V1 and V2 protocol routes answer their
 * own error shape, `{"error": "..."}`, with the same message (see errorBody).
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);
  private readonly bodyLimitBytes: number;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    config: ConfigService<AllConfig, true>,
  ) {
    this.bodyLimitBytes = config.getOrThrow('http.bodyLimitBytes', { infer: true });
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const context = host.switchToHttp();
    const request = context.getRequest<{ id?: string; headers?: Record<string, unknown>; routeOptions?: { bodyLimit?: number } }>();
    const response = context.getResponse();
    const requestId = String(request.id ?? '');

    if (exception instanceof HttpException && isReport(exception.getResponse())) {
      httpAdapter.reply(response, exception.getResponse(), exception.getStatus());
      return;
    }
    const { status, message, details, retryAfter } = this.describe(exception, request.headers, request.routeOptions);
    if (status >= 500 && status !== HttpStatus.SERVICE_UNAVAILABLE && status !== HttpStatus.GATEWAY_TIMEOUT) {
      this.logger.error(
        { requestId, err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : exception },
        'request failed',
      );
    }
    if (retryAfter !== undefined || status === HttpStatus.SERVICE_UNAVAILABLE) {
      httpAdapter.setHeader(response, 'Retry-After', retryAfter ?? RETRY_AFTER_SECONDS);
    }
    if (status === HttpStatus.UNAUTHORIZED) {
      httpAdapter.setHeader(response, 'WWW-Authenticate', 'Bearer');
    }
    httpAdapter.reply(response, errorBody(httpAdapter.getRequestUrl(request), status, message, requestId, details), status);
  }

  private describe(
    exception: unknown,
    headers: Record<string, unknown> = {},
    routeOptions?: { bodyLimit?: number },
  ): { status: number; message: string; details?: ErrorDetailDto[]; retryAfter?: string } {
    if (exception instanceof InvalidInputError) {
      return { status: HttpStatus.BAD_REQUEST, message: exception.message, details: exception.problems };
    }
    if (exception instanceof ModelNotFoundError) {
      return { status: HttpStatus.NOT_FOUND, message: exception.message };
    }
    if (exception instanceof ModelNotReadyError) {
      return { status: HttpStatus.SERVICE_UNAVAILABLE, message: exception.message };
    }
    if (exception instanceof QueueFullError) {
      return { status: OVERLOAD_STATUS, message: exception.message, retryAfter: OVERLOAD_RETRY_AFTER_SECONDS };
    }
    if (exception instanceof DeadlineExceededError) {
      return { status: HttpStatus.GATEWAY_TIMEOUT, message: exception.message };
    }
    if (exception instanceof ModelLoadError) {
      return { status: HttpStatus.UNPROCESSABLE_ENTITY, message: exception.message };
    }
    if (!(exception instanceof HttpException)) {
      return { status: HttpStatus.INTERNAL_SERVER_ERROR, message: 'internal error' };
    }
    const status = exception.getStatus();
    if (status >= 500 && status !== HttpStatus.SERVICE_UNAVAILABLE && status !== HttpStatus.GATEWAY_TIMEOUT) {
      return { status, message: 'internal error' };
    }
    // Fastify's own errors (body parsing, limits) arrive with terse messages: say more.
    if (status === HttpStatus.PAYLOAD_TOO_LARGE) {
      const limit = routeOptions?.bodyLimit ?? this.bodyLimitBytes;
      return { status, message: `request body is larger than the limit of ${limit} bytes` };
    }
    if (status === HttpStatus.UNSUPPORTED_MEDIA_TYPE) {
      const type = String(headers['content-type'] ?? '').slice(0, 100);
      if (type === '') return { status, message: 'a request body needs "Content-Type: application/json"' };
      return { status, message: `unsupported content type ${JSON.stringify(type)}; send application/json` };
    }
    const body = exception.getResponse();
    if (typeof body === 'string') return { status, message: body };
    const { message, details } = body as { message?: unknown; details?: ErrorDetailDto[] };
    const text = Array.isArray(message) ? message.join('; ') : String(message ?? exception.message);
    return { status, message: text, details };
  }
}

/** A health check report (`{status, info, error, details}`) rather than an error message. */
function isReport(body: unknown): boolean {
  return typeof body === 'object' && body !== null && 'status' in body && 'details' in body && !('message' in body);
}
