// The parts of TF.js the service uses, as one `tf` namespace: core ops and IO, Layers and Graph
// (converter) models, and the pure-JS "cpu" backend (registered on import). The gradients that
// training needs come with tfjs-layers. Ops are called as functions (`tf.argMax(t)`): the
// chained form (`t.argMax()`) is added only by the `@tensorflow/tfjs` umbrella, which would also
// load webgl and tfjs-data, which nothing here uses, for about 100 MB more in the image. The
// wasm and tensorflow backends are loaded on demand by tfjs-runtime.ts.
import '@tensorflow/tfjs-backend-cpu';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
export * from '@tensorflow/tfjs-converter';
