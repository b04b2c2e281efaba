import { join } from 'node:path';
import { ArnFormat, type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { routes } from '../../shared/http/routes.js';

const ROOT = join(__dirname, '..', '..');

export interface ServiceFunctionProps {
  /** The folder under functions/ whose index.ts is the entry. */
  name: string;
  serviceName: string;
  logRetentionDays: number;
  timeout?: Duration;
  memorySize?: number;
  environment?: Record<string, string>;
  /** Encrypts the function's log group (the service key; its policy lets CloudWatch Logs use it). */
  logKey: kms.IKey;
  /** Concurrency reserved for (and capping) this function; none when unset. */
  reservedConcurrency?: number;
  /** False for a function that loads no Powertools (no logger settings to give it). */
  powertools?: boolean;
}

/**
 * Every function of the service, with the defaults fixed once: Node 22 on
 * arm64, bundled by the local esbuild (no Docker), minified with source maps
 * (Node reads them in the functions no caller waits on),
 * its own KMS-encrypted log group with retention, and a role that starts with
 * nothing but writing to that log group. Grants are added per function.
 *
 * X-Ray tracing is off: nothing in the code is instrumented (no Tracer on the SDK
 * clients), so active tracing would record only Lambda's own segment, cost a
 * wildcard grant, and add to every invocation. Powertools' structured logs and
 * metrics (request ids, run ids, Stripe request counts) are what operators use;
 * docs/architecture.md says how to turn on the Tracer if that changes.
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
    // Behind API Gateway a caller waits for a cold start, and Node's `--enable-source-maps`
    // parses the bundle's whole map at load: ~15–20 ms, a third of such an init
    // (docs/benchmarks.md). Those functions log minified stack positions, which the map in
    // their package resolves offline (`npm run map-stack`, docs/runbook.md); the queue and
    // schedule consumers, whose cold starts no one waits for, keep readable stacks.
    const callerWaits = routes.some((route) => route.function === props.name);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      encryptionKey: props.logKey,
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
      tracing: lambda.Tracing.DISABLED,
      ...(props.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
      role: this.role,
      logGroup: this.logGroup,
      // Only what the function reads: Powertools' logger its service name and level (the
      // metrics' namespace is fixed in shared/metrics.ts, where the alarms find it), Node
      // its options. The health check loads no Powertools.
      environment: {
        ...(props.powertools === false
          ? {}
          : { POWERTOOLS_SERVICE_NAME: props.serviceName, POWERTOOLS_LOG_LEVEL: 'INFO' }),
        ...(callerWaits ? {} : { NODE_OPTIONS: '--enable-source-maps' }),
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        // A map without the sources' text: enough to resolve a stack, a fraction of the package.
        sourcesContent: false,
        target: 'node22',
        // ESM lets esbuild tree-shake the AWS SDK's and our dependencies' ES builds: smaller, faster cold starts.
        format: nodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        // Lambda's runtime ships no AWS SDK we want to depend on: bundle exactly what we import.
        externalModules: [],
      },
    });
    const logGroupId = Stack.of(this).resolve(
      Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as CfnElement),
    );
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logGroupId}.Arn>:*]`,
      reason:
        'Lambda creates its log streams at run time with names it chooses: the grant names this function’s log group and any stream in it.',
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

  envs(values: Record<string, string>): this {
    for (const [name, value] of Object.entries(values)) this.fn.addEnvironment(name, value);
    return this;
  }

  /**
   * Use of the service's KMS key through one AWS service only (`kms:ViaService`):
   * the key that encrypts tables, secrets and queues cannot be used directly.
   */
  private grantKey(key: kms.IKey, actions: string[], via: 'dynamodb' | 'secretsmanager' | 'sqs'): void {
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions,
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `${via}.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }

  private grantTable(
    table: dynamodb.ITable,
    key: kms.IKey,
    access: 'read' | 'readWrite',
    indexes: string[],
  ): void {
    const read = [
      'dynamodb:GetItem',
      'dynamodb:BatchGetItem',
      'dynamodb:Query',
      'dynamodb:ConditionCheckItem',
    ];
    const write = [
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
    ];
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: access === 'read' ? read : [...read, ...write],
        resources: [table.tableArn],
      }),
    );
    if (indexes.length > 0) {
      this.role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: indexes.map((i) => `${table.tableArn}/index/${i}`),
        }),
      );
    }
    this.grantKey(
      key,
      access === 'read'
        ? ['kms:Decrypt', 'kms:DescribeKey']
        : ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      'dynamodb',
    );
  }

  /** The service table: its name, and read or read-write access (its indexes and the key included). */
  bindServiceTable(
    table: dynamodb.ITable,
    key: kms.IKey,
    access: 'read' | 'readWrite',
    indexes: string[] = [],
  ): this {
    this.env('SERVICE_TABLE_NAME', table.tableName);
    this.grantTable(table, key, access, indexes);
    return this;
  }

  /**
   * The records table: its name and access, only in the functions that use it.
   * `counts`: GetItem alone, for the status's per-partition counts item.
   */
  bindRecordsTable(
    table: dynamodb.ITable,
    key: kms.IKey,
    access: 'read' | 'readWrite' | 'counts' | 'feed',
  ): this {
    this.env('RECORDS_TABLE_NAME', table.tableName);
    if (access === 'feed') {
      // The feed's position item (GetItem) and the feed index (Query): nothing is written.
      this.role.addToPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [table.tableArn] }),
      );
      this.role.addToPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/feed`] }),
      );
      this.grantKey(key, ['kms:Decrypt', 'kms:DescribeKey'], 'dynamodb');
    } else if (access === 'counts') {
      this.role.addToPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [table.tableArn] }),
      );
      this.grantKey(key, ['kms:Decrypt', 'kms:DescribeKey'], 'dynamodb');
    } else this.grantTable(table, key, access, []);
    return this;
  }

  /**
   * Connection secrets, by name prefix: only the functions that hold tokens
   * get this, and only the actions they use. The KMS key encrypts them.
   */
  bindConnectionSecrets(
    prefix: string,
    key: kms.IKey,
    actions: Array<'create' | 'read' | 'write' | 'delete'>,
  ): this {
    const map = {
      create: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
      read: ['secretsmanager:GetSecretValue'],
      write: ['secretsmanager:PutSecretValue'],
      delete: ['secretsmanager:DeleteSecret'],
    } as const;
    // A function that only deletes finds each secret's ARN on its connection item: it reads
    // neither the prefix nor the key (tokenConfig, in the functions that create and read).
    if (actions.some((a) => a !== 'delete')) {
      this.env('TOKEN_SECRET_PREFIX', prefix);
      this.env('KMS_KEY_ID', key.keyArn);
    }
    const stack = Stack.of(this);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: actions.flatMap((a) => map[a]),
        resources: [
          stack.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: `${prefix}*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    // Secrets Manager asks KMS for a data key to encrypt a new value and decrypts it to
    // check it, so creating or writing a secret under a customer key needs GenerateDataKey
    // and Decrypt (it never calls kms:Encrypt).
    const writes = actions.includes('create') || actions.includes('write');
    const keyActions = [
      ...(actions.includes('read') || writes ? ['kms:Decrypt'] : []),
      ...(writes ? ['kms:GenerateDataKey'] : []),
    ];
    if (keyActions.length > 0) this.grantKey(key, keyActions, 'secretsmanager');
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${prefix}*]`,
      reason:
        "One secret per connection, named at run time: the grant is scoped to the service's connection-secret name prefix.",
    });
    return this;
  }

  /** The Stripe app's credentials secret: read only. */
  bindAppCredentials(secret: secretsmanager.ISecret, key: kms.IKey): this {
    this.env('APP_CREDENTIALS_SECRET_ID', secret.secretArn);
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
    );
    this.grantKey(key, ['kms:Decrypt'], 'secretsmanager');
    return this;
  }

  /** PutEvents on one bus, with the source the events carry. */
  bindEventBus(bus: events.IEventBus, source: string): this {
    this.envs({ EVENT_BUS_NAME: bus.eventBusName, EVENT_SOURCE: source });
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [bus.eventBusArn] }),
    );
    return this;
  }

  /** The webhook signing secrets: read only, and nothing else. */
  bindWebhookSecrets(secret: secretsmanager.ISecret, key: kms.IKey): this {
    this.env('WEBHOOK_SECRETS_SECRET_ID', secret.secretArn);
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
    );
    this.grantKey(key, ['kms:Decrypt'], 'secretsmanager');
    return this;
  }

  /**
   * Consumes a queue: the event source mapping, and the grants Lambda's poller uses (it
   * polls with the function's role). Written out rather than `SqsEventSource`, whose grant
   * adds kms:Decrypt on the key with no `kms:ViaService` condition.
   */
  consumeQueue(
    queue: sqs.IQueue,
    key: kms.IKey,
    options: { batchSize: number; maxConcurrency: number },
  ): lambda.EventSourceMapping {
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'sqs:ReceiveMessage',
          'sqs:ChangeMessageVisibility',
          'sqs:GetQueueUrl',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
        ],
        resources: [queue.queueArn],
      }),
    );
    this.grantKey(key, ['kms:Decrypt'], 'sqs');
    const mapping = this.fn.addEventSourceMapping('Queue', {
      eventSourceArn: queue.queueArn,
      batchSize: options.batchSize,
      reportBatchItemFailures: true,
      maxConcurrency: options.maxConcurrency,
    });
    // The mapping checks the role's access when it is created: the policy must exist first.
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    if (policy) mapping.node.addDependency(policy);
    return mapping;
  }

  /** Send-only access to a queue, its URL in `envName`. */
  bindQueueSender(queue: sqs.IQueue, key: kms.IKey, envName: string): this {
    this.env(envName, queue.queueUrl);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['sqs:SendMessage'],
        resources: [queue.queueArn],
      }),
    );
    this.grantKey(key, ['kms:GenerateDataKey', 'kms:Decrypt'], 'sqs');
    return this;
  }
}
