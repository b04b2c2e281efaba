import { ArnFormat, CfnOutput, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { recordsTable, serviceTable, type TableDef } from '../shared/data/tables.js';
import type { Settings } from './settings.js';

/** The JSON shape operators put into the app-credentials secret after the first deploy. */
export const APP_CREDENTIALS_SHAPE = '{"secretKeys":{"test":"sk_test_…","live":"sk_live_…"}}';
export const WEBHOOK_SECRETS_SHAPE = '{"webhookSecrets":["whsec_…"]}';

export interface StatefulResources {
  key: kms.IKey;
  appCredentials: secretsmanager.ISecret;
  /** The webhook endpoints' signing secrets, apart from the app keys so the intake reads only these. */
  webhookSecrets: secretsmanager.ISecret;
  /** Name prefix of the per-connection token secrets. */
  connectionSecretPrefix: string;
  serviceTable: dynamodb.ITable;
  recordsTable: dynamodb.ITable;
}

function buildTable(scope: Construct, def: TableDef, key: kms.IKey): dynamodb.Table {
  const attr = (k: { name: string; type: 'S' | 'N' }) => ({
    name: k.name,
    type: k.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  });
  const table = new dynamodb.Table(scope, def.id, {
    partitionKey: attr(def.partitionKey),
    sortKey: attr(def.sortKey),
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
    ...(def.ttlAttribute ? { timeToLiveAttribute: def.ttlAttribute } : {}),
  });
  for (const index of def.globalSecondaryIndexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: attr(index.partitionKey),
      ...(index.sortKey ? { sortKey: attr(index.sortKey) } : {}),
      ...(index.nonKeyAttributes
        ? { projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: index.nonKeyAttributes }
        : { projectionType: dynamodb.ProjectionType.ALL }),
    });
  }
  return table;
}

/** What must outlive any deployment of the code: the data and the key that encrypts it. */
export class StatefulStack extends Stack implements StatefulResources {
  readonly key: kms.Key;
  readonly serviceTable: dynamodb.Table;
  readonly recordsTable: dynamodb.Table;
  readonly appCredentials: secretsmanager.Secret;
  readonly webhookSecrets: secretsmanager.Secret;
  readonly connectionSecretPrefix: string;

  constructor(
    scope: Construct,
    id: string,
    props: StackProps & {
      settings: Settings;
      /** The name every alarm of the service starts with: only those may use the key through SNS. */
      alarmNamePrefix: string;
    },
  ) {
    super(scope, id, props);
    this.key = new kms.Key(this, 'ServiceKey', {
      description: `Defrr Stripe connector (${props.settings.stage}): tables, connection secrets, queues`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the service's SNS topic, which this key encrypts: only
    // this account's alarms of this service (no confused deputy).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': this.account },
          ArnLike: {
            'aws:SourceArn': this.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${props.alarmNamePrefix}*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    // CloudWatch Logs encrypts the functions' and the API's log groups with this key, for
    // log groups of this account and region only.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': this.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    this.serviceTable = buildTable(this, serviceTable, this.key);
    this.recordsTable = buildTable(this, recordsTable, this.key);
    this.connectionSecretPrefix = `defrr/stripe/${props.settings.stage}/connections/`;
    // Created holding no credential (empty lists); operators put the real values after deploy.
    const emptySecret = (id: string, name: string, shape: string, template: object) => {
      const secret = new secretsmanager.Secret(this, id, {
        secretName: `defrr/stripe/${props.settings.stage}/${name}`,
        description: `JSON: ${shape}`,
        encryptionKey: this.key,
        removalPolicy: RemovalPolicy.RETAIN,
        generateSecretString: {
          secretStringTemplate: JSON.stringify(template),
          generateStringKey: 'unused',
          excludePunctuation: true,
        },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          "Stripe's keys and webhook secrets are rolled in the Stripe Dashboard, not by a Lambda; the runbook rotates them without downtime.",
      });
      return secret;
    };
    this.appCredentials = emptySecret('AppCredentials', 'app-credentials', APP_CREDENTIALS_SHAPE, {
      secretKeys: {},
    });
    this.webhookSecrets = emptySecret('WebhookSecrets', 'webhook-secrets', WEBHOOK_SECRETS_SHAPE, {
      webhookSecrets: [],
    });
    // What an operator must fill after the first deploy (README, "After the first deploy").
    new CfnOutput(this, 'AppCredentialsSecretName', {
      value: `defrr/stripe/${props.settings.stage}/app-credentials`,
      description: `Put the Stripe app's secret keys here: ${APP_CREDENTIALS_SHAPE}`,
    });
    new CfnOutput(this, 'WebhookSecretsSecretName', {
      value: `defrr/stripe/${props.settings.stage}/webhook-secrets`,
      description: `Put the webhook endpoints' signing secrets here: ${WEBHOOK_SECRETS_SHAPE}`,
    });
  }
}
