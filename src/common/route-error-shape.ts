import type { ErrorShape } from './error-answer';

/**
 * The error shape the route a request matched declares. The HTTP edge provides it, since only
 * the edge knows the platform's request; the exception filter stays platform-neutral.
 */
export abstract class RouteErrorShape {
  abstract of(request: unknown): ErrorShape;
}
