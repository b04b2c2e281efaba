// One jest project per test tier; `npm test` runs them in order (see package.json).
// Middy 6 and jose 6 are ESM-only, and Lambda's invoke store imports node:async_hooks dynamically,
// so @swc/jest compiles them along with our TypeScript.
const transform = {
  '^.+\\.(t|j|mj)s$': [
    '@swc/jest',
    { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
  ],
};
const common = {
  testEnvironment: 'node',
  transform,
  transformIgnorePatterns: ['/node_modules/(?!(@middy|jose|@aws/lambda-invoke-store)/)'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  resolver: '<rootDir>/test/support/resolver.cjs',
  setupFilesAfterEnv: ['<rootDir>/test/support/log-capture.ts'],
  // A loaded two-core machine is slow: files with heavier tests set their own, longer timeouts.
  testTimeout: 30_000,
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    {
      ...common,
      displayName: 'aws',
      testMatch: ['<rootDir>/test/aws/**/*.test.ts'],
      globalSetup: '<rootDir>/test/aws/global-setup.ts',
      globalTeardown: '<rootDir>/test/aws/global-teardown.ts',
    },
    { ...common, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
};
