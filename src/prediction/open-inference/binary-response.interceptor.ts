import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { map, Observable } from 'rxjs';
import { BINARY_HEADER_LENGTH } from '../../http/binary-body';
import { BinaryInferResponse } from './v2.codec';

/** Sends an answer with outputs in binary form as bytes, with the JSON header's length in its header. */
@Injectable()
export class BinaryResponseInterceptor implements NestInterceptor {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((result: unknown) => {
        if (!(result instanceof BinaryInferResponse)) return result;
        const { httpAdapter } = this.adapterHost;
        const response: unknown = context.switchToHttp().getResponse();
        httpAdapter.setHeader(response, BINARY_HEADER_LENGTH, String(result.headerLength));
        httpAdapter.setHeader(response, 'content-type', 'application/octet-stream');
        return result.body;
      }),
    );
  }
}
