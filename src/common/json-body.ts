import { BadRequestException } from '@nestjs/common';
import sjson from 'secure-json-parse';

/** Deepest nesting of objects and lists accepted in a body: deeper ones are refused before validation. */
export const MAX_JSON_DEPTH = 32;

function invalid(message: string): BadRequestException {
  return new BadRequestException({ message, details: [{ path: 'body', message }] });
}

/**
 * Parses a JSON request body: refuses empty bodies, `__proto__` and `constructor.prototype`
 * keys (prototype poisoning), and nesting deeper than MAX_JSON_DEPTH, each with a message
 * that says so. The depth check walks the value without recursion.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw invalid('the body is empty; send a JSON object');
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    const message = (error as Error).message;
    if (/prototype/i.test(message)) {
      throw invalid('the body has a "__proto__" or "constructor.prototype" key; such keys are refused');
    }
    throw invalid(`the body is not valid JSON: ${message.slice(0, 200)}`);
  }
  const depth = nestingDepth(value, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) throw invalid(`the body is nested more than ${MAX_JSON_DEPTH} levels deep`);
  return value;
}

/** Nesting depth of a JSON value, counting stops once past `limit`. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, level]);
    }
  }
  return deepest;
}
