import { InvalidInputError } from '../model/model-errors';

/** Deepest nesting of objects and lists accepted in a body: deeper ones are refused before validation. */
export const MAX_JSON_DEPTH = 32;

/**
 * Keys that name a member of Object.prototype (`__proto__`, `constructor`, `toString`, ...).
 * No route takes a field of these names, and code that reads objects by key (validation
 * included) can mistake them for the inherited members: they are refused wherever they
 * appear in a body, with the path of the first one.
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * Parses a JSON request body: refuses an empty body, keys named like Object.prototype members
 * and nesting deeper than MAX_JSON_DEPTH, each with a message that says where. The checks walk
 * the value once, without recursion.
 */
export function parseJsonBody(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (text.trim() === '') throw InvalidInputError.body('the body is empty; send a JSON object');
    throw InvalidInputError.body(`the body is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  checkStructure(value);
  return value;
}

function checkStructure(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth >= MAX_JSON_DEPTH) throw InvalidInputError.body(`the body is nested more than ${MAX_JSON_DEPTH} levels deep`);
    if (Array.isArray(node)) {
      for (const child of node) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
      continue;
    }
    for (const key of Object.keys(node as object)) {
      if (PROTOTYPE_KEYS.has(key)) {
        const where = `${pathTo(value, node) ?? ''}${keySuffix(key)}`.replace(/^\./, '');
        throw InvalidInputError.at(
          where,
          'is not accepted: keys named like Object.prototype members (__proto__, constructor, toString, ...) are refused',
        );
      }
      const child = (node as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
}

/** Where `target` sits in `root`, as a request path (`inputs[0].parameters`); '' for the root. */
function pathTo(root: unknown, target: unknown, path = ''): string | undefined {
  if (root === target) return path;
  if (typeof root !== 'object' || root === null) return undefined;
  const entries = Array.isArray(root)
    ? root.map((child, i) => [`[${i}]`, child] as const)
    : Object.entries(root).map(([key, child]) => [keySuffix(key), child] as const);
  for (const [step, child] of entries) {
    const found = pathTo(child, target, `${path}${step}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** `.name` for plain names, `["odd key"]` otherwise, as paths elsewhere write keys. */
function keySuffix(key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
