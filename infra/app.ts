import { App, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ServiceStack } from './service-stack.js';
import { readSettings } from './settings.js';
import { StatefulStack } from './stateful-stack.js';

/** Builds the whole app: both stacks, cdk-nag over everything. */
export function buildApp(app = new App()) {
  const settings = readSettings((key) => app.node.tryGetContext(key));
  const env = { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION };
  const prefix = `DefrrStripe-${settings.stage}`;
  const serviceStackName = `${prefix}-Service`;
  const stateful = new StatefulStack(app, `${prefix}-Stateful`, {
    env,
    settings,
    terminationProtection: true,
    // The service stack names every alarm after itself (infra/constructs/monitoring.ts).
    alarmNamePrefix: `${serviceStackName}-`,
  });
  const service = new ServiceStack(app, serviceStackName, { env, settings, stateful });
  service.addStackDependency(stateful);
  Tags.of(app).add('service', 'defrr-stripe-connector');
  Tags.of(app).add('stage', settings.stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stateful, service, settings };
}
