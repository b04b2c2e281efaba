import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type FunctionName, routes } from '../shared/http/routes.js';
import { ServiceFunction } from './constructs/service-function.js';
import type { Settings } from './settings.js';
import type { StatefulResources } from './stateful-stack.js';

export interface ServiceStackProps extends StackProps {
  settings: Settings;
  stateful: StatefulResources;
}

/** The code: functions and the HTTP API, taking the stateful resources through typed props. */
export class ServiceStack extends Stack {
  readonly functions: Record<FunctionName, ServiceFunction>;
  readonly api: apigw.HttpApi;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const serviceName = 'stripe-connector';
    this.functions = {
      health: new ServiceFunction(this, 'Health', {
        name: 'health',
        serviceName,
        logRetentionDays: settings.logRetentionDays,
      }),
    };

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
    });
    this.api = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `defrr-stripe-${settings.stage}`,
      createDefaultStage: false,
    });
    const stage = this.api.addStage('LiveStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
    });
    const cfnStage = stage.node.defaultChild as apigw.CfnStage;
    cfnStage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      // Request metadata only: never the query string (the callback's carries an authorization code).
      format: JSON.stringify({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        routeKey: '$context.routeKey',
        status: '$context.status',
        latency: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
      }),
    };
    for (const route of routes) {
      const [added] = this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        integration: new integrations.HttpLambdaIntegration(
          `${route.function}-${route.method}`,
          this.functions[route.function].fn,
        ),
      });
      if (route.auth === 'public' && added) {
        Validations.of(added).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by design (${route.function}); the function checks what it must.`,
        });
      }
    }
    new CfnOutput(this, 'ApiUrl', { value: stage.url });
  }
}
