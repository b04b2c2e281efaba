import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { recordsTable, serviceTable, type TableDef } from '../shared/data/tables.js';
import type { Settings } from './settings.js';

export interface StatefulResources {
  key: kms.IKey;
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

  constructor(scope: Construct, id: string, props: StackProps & { settings: Settings }) {
    super(scope, id, props);
    this.key = new kms.Key(this, 'ServiceKey', {
      description: `Defrr Stripe connector (${props.settings.stage}): tables, connection secrets, queues`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.serviceTable = buildTable(this, serviceTable, this.key);
    this.recordsTable = buildTable(this, recordsTable, this.key);
  }
}
