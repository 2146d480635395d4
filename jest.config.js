/** @type {import('jest').Config} */
const swaggerPlugin = '<rootDir>/test/support/swagger-plugin.transformer.js';

module.exports = {
  rootDir: '.',
  moduleFileExtensions: ['js', 'json', 'ts'],
  testEnvironment: 'node',
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
