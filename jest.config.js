/** @type {import('jest').Config} */
const swaggerPlugin = '<rootDir>/test/support/swagger-plugin.transformer.js';

module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  // Node's environment with Node's own typed array constructors: onnxruntime-node makes its
  // arrays in the main realm and checks them with instanceof (test/support/single-realm-environment.js).
  testEnvironment: '<rootDir>/test/support/single-realm-environment.js',
  // Unit specs beside the code; end-to-end and process specs under test/.
  testRegex: ['src/.*\\.spec\\.ts$', 'test/.*\\.e2e-spec\\.ts$', 'test/.*\\.process-spec\\.ts$'],
  transform: {
    // The swagger plugin reads DTO types and JSDoc, as `nest build` does.
    '^.+\\.ts$': ['ts-jest', { astTransformers: { before: [swaggerPlugin] } }],
  },
  setupFiles: ['<rootDir>/test/support/quiet-logs.ts'],
  testTimeout: 30_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
