'use strict';
/**
 * Jest's node environment with Node's own binary data constructors.
 *
 * Jest runs each test file in a vm context whose globals are its own: a Float32Array made there
 * is not an `instanceof Float32Array` of Node's main realm, and the reverse. onnxruntime-node's
 * native binding makes its output arrays in the main realm, and onnxruntime-common (loaded in
 * the test's context) then refuses them ("A float32 tensor's data must be type of function
 * Float32Array()"); arrays coming back from a worker thread are main-realm ones too. In the
 * service there is one realm. jest.config.js makes it every suite's environment.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class SingleRealmEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) {
      if (name in globalThis) this.global[name] = globalThis[name];
    }
  }
}

module.exports = SingleRealmEnvironment;
