// Tests are compiled once by `tsc` (npm's pretest) and run from dist/: no second compiler in the loop.
/** @type {import('jest').Config} */
module.exports = {
  roots: ['<rootDir>/dist/test'],
  testMatch: ['**/*.test.js'],
  testEnvironment: 'node',
  globalSetup: '<rootDir>/dist/test/support/global-setup.js',
  globalTeardown: '<rootDir>/dist/test/support/global-teardown.js',
  testTimeout: 60000,
  // Two cores: more workers only fight over them and over TLS handshakes.
  maxWorkers: 2,
};
