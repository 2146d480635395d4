import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorAnswer } from '../common/error-answer';
import { routeFacts } from './route-facts';

/**
 * Answers an error from the edge itself (a refusal before the route runs), in the error shape
 * the route declares, as the exception filter answers the errors of handlers.
 */
export function answerError(request: FastifyRequest, reply: FastifyReply, error: Error): void {
  const answer = errorAnswer(error, routeFacts(request).errorShape ?? 'service', request.id);
  void reply.code(answer.status).headers(answer.headers).send(answer.body);
}
