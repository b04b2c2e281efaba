import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app.js';

/** Synthesises the whole app (cdk-nag included) once per test file, with cdk.json's context. */
export function synthApp(overrides: Record<string, unknown> = {}) {
  const { context } = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const built = buildApp(
    new App({ outdir: mkdtempSync(join(tmpdir(), 'cdk-')), context: { ...context, ...overrides } }),
  );
  const assembly = built.app.synth();
  return {
    ...built,
    assembly,
    statefulTemplate: Template.fromStack(built.stateful),
    serviceTemplate: Template.fromStack(built.service),
  };
}
