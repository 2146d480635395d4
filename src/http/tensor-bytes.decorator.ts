import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** The raw tensor bytes after the JSON header of a binary tensor data request; null for plain JSON. */
export const TensorBytes = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Buffer | null => context.switchToHttp().getRequest<FastifyRequest>().tensorBytes ?? null,
);
