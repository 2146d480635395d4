import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import type { ErrorShape } from '../common/error-answer';

/** Which model (and version) an inference route runs, read from its path parameters. */
export interface InferenceTarget {
  /** Unset: the default model. */
  model?: string;
  version?: string;
}

/**
 * What the HTTP edge needs to know about a route, declared on the route itself and read by
 * the edge's parts as `request.routeOptions.config` (Fastify's route config).
 */
export interface RouteFacts {
  /** The shape of its error bodies; the service's own when unset. */
  errorShape?: ErrorShape;
  /**
   * An inference route: its body may carry tensors (up to BODY_LIMIT_BYTES; other routes take
   * at most SMALL_BODY_LIMIT_BYTES), and it is refused before its body is read when the server
   * or its model's queue is full.
   */
  inference?: { target: (params: Record<string, string | undefined>) => InferenceTarget | undefined };
  /** Takes the Open Inference Protocol's binary tensor data (a JSON header, then raw bytes). */
  binaryTensors?: boolean;
  /** Changes what is served: answered only when its path is spelled exactly as declared. */
  management?: boolean;
}

const FACTS = Symbol('route facts');

/** Adds facts to every route the decorator is applied to (a handler, or each handler of a controller). */
export function RouteFacts(facts: RouteFacts): MethodDecorator & ClassDecorator {
  return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor) {
      declare(descriptor.value as object, facts, target, key!, descriptor);
      return;
    }
    const prototype = (target as { prototype: object }).prototype;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const method = Object.getOwnPropertyDescriptor(prototype, name);
      if (name === 'constructor' || typeof method?.value !== 'function') continue;
      declare(method.value as object, facts, prototype, name, method);
    }
  };
}

/** Merges the facts with those already declared and hands them to Fastify as the route's config. */
function declare(handler: object, facts: RouteFacts, target: object, key: string | symbol, descriptor: PropertyDescriptor): void {
  const merged: RouteFacts = { ...(Reflect.getMetadata(FACTS, handler) as RouteFacts | undefined), ...facts };
  Reflect.defineMetadata(FACTS, merged, handler);
  RouteConfig(merged)(target, key, descriptor);
}

/** A route that runs inference on the model its path parameters name (the default model when they name none). */
export function InferenceRoute(target: (params: Record<string, string | undefined>) => InferenceTarget | undefined): MethodDecorator {
  return RouteFacts({ inference: { target } });
}

/** The facts as Fastify keeps them in a route's config, with the route's own pattern. */
export type MatchedRoute = RouteFacts & { url?: string };

declare module 'fastify' {
  interface FastifyRequest {
    /** The matched route's facts, read once per request (see routeFacts). */
    matchedRoute: MatchedRoute | null;
  }
}

/**
 * The facts of the route a request matched (with its pattern, `url`); none but the pattern for
 * a request no route matched. Read once per request: Fastify builds `routeOptions` anew on
 * every access, and every part of the edge asks.
 */
export function routeFacts(request: FastifyRequest): MatchedRoute {
  return (request.matchedRoute ??= (request.routeOptions.config ?? {}) as MatchedRoute);
}
