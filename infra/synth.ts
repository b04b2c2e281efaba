import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from './app.js';

/**
 * `npm run synth`: synthesises into cdk.out with no network and no Docker (the
 * CDK CLI is not needed to synthesise; `npx cdk deploy` uses cdk.json). Settings
 * come from the environment (STAGE, STRIPE_CLIENT_ID, …: infra/settings.ts), the
 * dev stage's placeholders otherwise. cdk-nag fails it on any finding.
 */
const { context } = JSON.parse(readFileSync(join(__dirname, '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
const { app } = buildApp(new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out', context }));
const assembly = app.synth();
for (const stack of assembly.stacks)
  console.log(`synthesised ${stack.stackName} → ${stack.templateFullPath}`);
