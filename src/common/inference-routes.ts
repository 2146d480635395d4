/**
 * The route patterns (as Fastify registers them) of the requests that carry tensors or rows
 * and run inference. `/v1/models/:call` is TF Serving's `{name}:predict`, and its versioned
 * form `{version}:predict`. Body limits, admission control and the binary tensor data parser
 * all go by these.
 */

/** `/prediction`: the default model. */
export const DEFAULT_MODEL_ROUTE = /^\/prediction\/?$/;
/** Routes naming the model in `:name`, and the version in `:version` when they do. */
export const NAMED_MODEL_ROUTE = /^\/(models\/:name(\/versions\/:version)?\/prediction|v2\/models\/:name(\/versions\/:version)?\/infer)\/?$/;
/** TF Serving's routes: the model (or the version) and the method in `:call`. */
export const V1_CALL_ROUTE = /^\/v1\/models\/(:name\/versions\/)?:call\/?$/;
/** The Open Inference Protocol's infer routes: the ones that take binary tensor data. */
export const V2_INFER_ROUTE = /^\/v2\/models\/:name(\/versions\/:version)?\/infer\/?$/;

/** Whether a route pattern is one that runs inference. */
export function isInferenceRoute(route: string): boolean {
  return DEFAULT_MODEL_ROUTE.test(route) || NAMED_MODEL_ROUTE.test(route) || V1_CALL_ROUTE.test(route);
}
