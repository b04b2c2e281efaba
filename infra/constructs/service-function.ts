import { join } from 'node:path';
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

const ROOT = join(__dirname, '..', '..');

export interface ServiceFunctionProps {
  /** The folder under functions/ whose index.ts is the entry. */
  name: string;
  serviceName: string;
  logRetentionDays: number;
  timeout?: Duration;
  memorySize?: number;
  environment?: Record<string, string>;
}

/**
 * Every function of the service, with the defaults fixed once: Node 22 on
 * arm64, bundled by the local esbuild (no Docker), minified with source maps,
 * X-Ray tracing, its own log group with retention, and a role that starts with
 * nothing but writing to that log group. Grants are added per function.
 */
export class ServiceFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The folder under functions/ this function is built from. */
  readonly entryName: string;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    this.entryName = props.name;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs the ${props.name} function`,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn, `${this.logGroup.logGroupArn}:*`],
      }),
    );
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: join(ROOT, 'functions', props.name, 'index.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: join(ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        // Lambda's runtime ships no AWS SDK we want to depend on: bundle exactly what we import.
        externalModules: [],
      },
    });
    // X-Ray's PutTraceSegments/PutTelemetryRecords take no resource-level permissions.
    const logGroupId = Stack.of(this).resolve(
      Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as CfnElement),
    );
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logGroupId}.Arn>:*]`,
      reason:
        'Lambda creates its log streams at run time with names it chooses: the grant names this function’s log group and any stream in it.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) supports only Resource "*".',
    });
    Validations.of(this.fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'The service targets nodejs22.x deliberately: its code and dependencies are tested on Node 20 and 22.',
    });
  }

  /** Sets an environment variable (the binding helpers pair this with a grant). */
  env(name: string, value: string): this {
    this.fn.addEnvironment(name, value);
    return this;
  }
}
