import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app.js';

/** cdk.json's context: CDK's feature flags (the dev stage's settings are infra/settings.ts's defaults). */
export function cdkContext(): Record<string, unknown> {
  return (
    JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
      context: Record<string, unknown>;
    }
  ).context;
}

/** Settings a real (non-dev) stage could deploy with: no placeholder anywhere. */
export const PROD_CONTEXT: Record<string, unknown> = {
  stage: 'prod',
  frontendOrigins: 'https://app.defrr.com',
  jwtIssuer: 'https://auth.defrr.com/',
  stripeClientId: 'ca_QmRkW2fGx7Lr4pVn9sT3',
  stripeAuthorizeUrlTest: 'https://marketplace.stripe.com/oauth/v2/chnlink_61Rk2QmVx8/authorize',
  stripeAuthorizeUrlLive: 'https://marketplace.stripe.com/oauth/v2/authorize',
  stripeDefaultMode: 'live',
  alarmEmail: 'oncall@defrr.com',
};

/**
 * Synthesises the whole app (cdk-nag included) with cdk.json's context and `overrides`
 * (settings as `-c key=value` would give them; none: the dev stage).
 * `bundle: false` skips bundling the functions (a template-only check of a variant).
 */
export function synthApp(overrides: Record<string, unknown> = {}, options: { bundle?: boolean } = {}) {
  const built = buildApp(
    new App({
      outdir: mkdtempSync(join(tmpdir(), 'cdk-')),
      context: {
        ...cdkContext(),
        ...overrides,
        ...(options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
      },
    }),
  );
  const assembly = built.app.synth();
  return {
    ...built,
    assembly,
    statefulTemplate: Template.fromStack(built.stateful),
    serviceTemplate: Template.fromStack(built.service),
  };
}
