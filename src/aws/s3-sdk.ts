import { createRequire } from 'node:module'

/**
 * The values of `@aws-sdk/client-s3` (its client and commands), loaded with
 * require() rather than `import`. The package's Node build is CommonJS;
 * imported from an ES module, Node first scans its large entry file for
 * export names and wraps it as a module, which took 178 ms against 110 for
 * require() here, on every run that opens an S3 store. Types are imported
 * from the package as usual (`import type`).
 */
export const s3Sdk = createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3')
