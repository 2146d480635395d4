import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { BINARY_HEADER_LENGTH } from './binary-body';
import { REQUEST_ID_HEADER } from './request-id';

/** Cross-origin browser requests only from the configured origins; none when there are none. */
export const crossOrigin = fp(
  async (fastify: FastifyInstance, { origins }: { origins: readonly string[] }) => {
    if (origins.length === 0) return;
    await fastify.register(cors, {
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'POST'],
      allowedHeaders: ['content-type', 'authorization', REQUEST_ID_HEADER, BINARY_HEADER_LENGTH],
      exposedHeaders: [REQUEST_ID_HEADER, 'retry-after', BINARY_HEADER_LENGTH],
      maxAge: 600,
    });
  },
  { name: 'cross-origin' },
);
