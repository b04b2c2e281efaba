import { randomBytes } from 'node:crypto';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  type EventBridgeClient,
} from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * What CloudFormation would make of a synthesized app, on moto: each resource a
 * function's environment refers to is created from its template properties (on
 * first reference), and the environment's intrinsics are evaluated against what
 * was created: Ref, Fn::GetAtt, Fn::ImportValue (the other stack's exports),
 * Fn::Join, Fn::Select, Fn::Split, Fn::Sub and the pseudo parameters. Anything
 * else fails loudly, naming where it was found: a variable is never dropped.
 */

export interface CfnTemplate {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
}

export interface CfnStack {
  stackName: string;
  template: CfnTemplate;
}

/** A resource as CloudFormation reports it: its Ref and its attributes. */
export interface PhysicalResource {
  type: string;
  ref: string;
  attributes: Record<string, string>;
}

export interface MotoClients {
  endpoint: string;
  dynamodb: DynamoDBClient;
  kms: KMSClient;
  secrets: SecretsManagerClient;
  sqs: SQSClient;
  events: EventBridgeClient;
}

export class CfnResolutionError extends Error {
  override name = 'CfnResolutionError';
}

type Json = unknown;

/** The resource types this deployment can make on moto (what the functions' environments refer to). */
const MADE_ON_MOTO = new Set([
  'AWS::KMS::Key',
  'AWS::DynamoDB::Table',
  'AWS::SecretsManager::Secret',
  'AWS::SQS::Queue',
  'AWS::Events::EventBus',
  'AWS::ApiGatewayV2::Api',
]);

/** Deploys (on demand) and resolves the stacks of one app. */
export class MotoDeployment {
  readonly region = 'us-east-1';
  /** moto's default account. */
  readonly accountId = '123456789012';
  readonly partition = 'aws';
  private readonly created = new Map<string, Promise<PhysicalResource>>();
  /** Physical names made here end in this, so that the file's resources never meet another's. */
  readonly suffix = randomBytes(4).toString('hex');

  constructor(
    private readonly stacks: CfnStack[],
    private readonly moto: MotoClients,
  ) {}

  /** The resource with this logical id in this stack, created in moto on first use. */
  resource(stack: CfnStack, logicalId: string): Promise<PhysicalResource> {
    const key = `${stack.stackName}/${logicalId}`;
    let physical = this.created.get(key);
    if (!physical) {
      physical = this.create(stack, logicalId);
      this.created.set(key, physical);
    }
    return physical;
  }

  /** Every resource made so far, by `<stack>/<logical id>`. */
  async resources(): Promise<Record<string, PhysicalResource>> {
    const out: Record<string, PhysicalResource> = {};
    for (const [key, value] of this.created) out[key] = await value;
    return out;
  }

  /** A Lambda function's `Environment.Variables`, every value resolved. */
  async functionEnvironment(stack: CfnStack, logicalId: string): Promise<Record<string, string>> {
    const fn = stack.template.Resources[logicalId];
    if (fn?.Type !== 'AWS::Lambda::Function')
      throw new CfnResolutionError(`${stack.stackName}: ${logicalId} is not a Lambda function`);
    const variables = ((fn.Properties?.Environment as { Variables?: Record<string, Json> } | undefined)
      ?.Variables ?? {}) as Record<string, Json>;
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(variables)) {
      const resolved = await this.resolve(stack, value, `${logicalId}.Environment.Variables.${name}`);
      if (typeof resolved !== 'string' && typeof resolved !== 'number' && typeof resolved !== 'boolean')
        throw new CfnResolutionError(
          `${logicalId}: ${name} resolved to ${JSON.stringify(resolved)}, not a string`,
        );
      out[name] = String(resolved);
    }
    return out;
  }

  /** Evaluates a template value in a stack's context. */
  async resolve(stack: CfnStack, value: Json, where: string): Promise<Json> {
    if (Array.isArray(value)) {
      const out: Json[] = [];
      for (const [i, item] of value.entries()) out.push(await this.resolve(stack, item, `${where}[${i}]`));
      return out;
    }
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, Json>);
    const intrinsic = entries.length === 1 ? entries[0] : undefined;
    if (intrinsic && (intrinsic[0] === 'Ref' || intrinsic[0].startsWith('Fn::'))) {
      return this.intrinsic(stack, intrinsic[0], intrinsic[1], where);
    }
    const out: Record<string, Json> = {};
    for (const [key, item] of entries) {
      if (key === 'Ref' || key.startsWith('Fn::'))
        throw new CfnResolutionError(`${where}: ${key} beside other keys is not an intrinsic`);
      out[key] = await this.resolve(stack, item, `${where}.${key}`);
    }
    return out;
  }

  private pseudo(name: string): string | undefined {
    switch (name) {
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return this.accountId;
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      default:
        return undefined;
    }
  }

  private async intrinsic(stack: CfnStack, name: string, arg: Json, where: string): Promise<Json> {
    const fail = (why: string): never => {
      throw new CfnResolutionError(`${where}: cannot resolve ${name} ${JSON.stringify(arg)}: ${why}`);
    };
    switch (name) {
      case 'Ref': {
        if (typeof arg !== 'string') return fail('its argument is not a logical id');
        const pseudo = this.pseudo(arg);
        if (pseudo !== undefined) return pseudo;
        if (arg.startsWith('AWS::')) return fail('unknown pseudo parameter');
        if (!stack.template.Resources[arg]) return fail(`no resource ${arg} in ${stack.stackName}`);
        return (await this.resource(stack, arg)).ref;
      }
      case 'Fn::GetAtt': {
        const [logicalId, attribute] =
          typeof arg === 'string' ? (arg.split('.', 2) as [string, string]) : (arg as [Json, Json]);
        if (typeof logicalId !== 'string' || typeof attribute !== 'string') return fail('malformed');
        if (!stack.template.Resources[logicalId])
          return fail(`no resource ${logicalId} in ${stack.stackName}`);
        const physical = await this.resource(stack, logicalId);
        const value = physical.attributes[attribute];
        if (value === undefined) return fail(`${physical.type} has no attribute ${attribute} here`);
        return value;
      }
      case 'Fn::ImportValue': {
        const exportName = await this.resolve(stack, arg, where);
        for (const other of this.stacks) {
          for (const [outputId, output] of Object.entries(other.template.Outputs ?? {})) {
            if (!output.Export) continue;
            const name = await this.resolve(
              other,
              output.Export.Name,
              `${other.stackName}.Outputs.${outputId}`,
            );
            if (name === exportName)
              return this.resolve(other, output.Value, `${other.stackName}.Outputs.${outputId}.Value`);
          }
        }
        return fail(`no stack exports ${JSON.stringify(exportName)}`);
      }
      case 'Fn::Join': {
        if (!Array.isArray(arg) || arg.length !== 2) return fail('malformed');
        const [delimiter, list] = (await this.resolve(stack, arg, where)) as [Json, Json];
        if (typeof delimiter !== 'string' || !Array.isArray(list)) return fail('malformed');
        if (list.some((item) => typeof item !== 'string' && typeof item !== 'number'))
          return fail('a joined value is not a string');
        return list.join(delimiter);
      }
      case 'Fn::Select': {
        if (!Array.isArray(arg) || arg.length !== 2) return fail('malformed');
        const [index, list] = (await this.resolve(stack, arg, where)) as [Json, Json];
        const i = Number(index);
        if (!Array.isArray(list) || !Number.isInteger(i) || i < 0 || i >= list.length)
          return fail(`index ${String(index)} outside ${JSON.stringify(list)}`);
        return list[i];
      }
      case 'Fn::Split': {
        if (!Array.isArray(arg) || arg.length !== 2) return fail('malformed');
        const [delimiter, source] = (await this.resolve(stack, arg, where)) as [Json, Json];
        if (typeof delimiter !== 'string' || typeof source !== 'string') return fail('malformed');
        return source.split(delimiter);
      }
      case 'Fn::Sub': {
        const [text, vars] = (typeof arg === 'string' ? [arg, {}] : (arg as [Json, Json])) as [
          Json,
          Record<string, Json>,
        ];
        if (typeof text !== 'string') return fail('malformed');
        const values = (await this.resolve(stack, vars ?? {}, where)) as Record<string, Json>;
        let out = '';
        let last = 0;
        for (const match of text.matchAll(/\$\{([^}!]+)\}/g)) {
          const key = match[1] as string;
          let value: Json = values[key] ?? this.pseudo(key);
          if (value === undefined) {
            const [logicalId, attribute] = key.split('.', 2) as [string, string | undefined];
            if (!stack.template.Resources[logicalId]) return fail(`\${${key}} names nothing`);
            value = attribute
              ? await this.intrinsic(stack, 'Fn::GetAtt', [logicalId, attribute], where)
              : await this.intrinsic(stack, 'Ref', logicalId, where);
          }
          out += text.slice(last, match.index) + String(value);
          last = (match.index ?? 0) + match[0].length;
        }
        return out + text.slice(last);
      }
      default:
        return fail('this evaluator does not know it');
    }
  }

  /** A generated physical name, as CloudFormation makes one: stack, logical id, a random tail. */
  private generatedName(stack: CfnStack, logicalId: string, max: number): string {
    const base = `${stack.stackName}-${logicalId}`.slice(0, max - this.suffix.length - 1);
    return `${base}-${this.suffix}`;
  }

  private async create(stack: CfnStack, logicalId: string): Promise<PhysicalResource> {
    const resource = stack.template.Resources[logicalId];
    if (!resource) throw new CfnResolutionError(`no resource ${logicalId} in ${stack.stackName}`);
    const where = `${stack.stackName}.${logicalId}`;
    if (!MADE_ON_MOTO.has(resource.Type))
      throw new CfnResolutionError(`${where}: cannot make a ${resource.Type} on moto`);
    const props = (await this.resolve(stack, resource.Properties ?? {}, where)) as Record<string, Json>;
    const { moto } = this;
    switch (resource.Type) {
      case 'AWS::KMS::Key': {
        const { KeyMetadata } = await moto.kms.send(
          new CreateKeyCommand({ Description: props.Description as string | undefined }),
        );
        if (!KeyMetadata?.KeyId || !KeyMetadata.Arn) throw new CfnResolutionError(`${where}: no key made`);
        return {
          type: resource.Type,
          ref: KeyMetadata.KeyId,
          attributes: { Arn: KeyMetadata.Arn, KeyId: KeyMetadata.KeyId },
        };
      }
      case 'AWS::DynamoDB::Table': {
        const name = (props.TableName as string | undefined) ?? this.generatedName(stack, logicalId, 255);
        await moto.dynamodb.send(
          new CreateTableCommand({
            TableName: name,
            KeySchema: props.KeySchema,
            AttributeDefinitions: props.AttributeDefinitions,
            BillingMode: props.BillingMode,
            ...(props.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: props.GlobalSecondaryIndexes } : {}),
          } as CreateTableCommandInput),
        );
        const ttl = props.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
        if (ttl?.Enabled) {
          await moto.dynamodb.send(
            new UpdateTimeToLiveCommand({
              TableName: name,
              TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
            }),
          );
        }
        const { Table } = await moto.dynamodb.send(new DescribeTableCommand({ TableName: name }));
        if (!Table?.TableArn) throw new CfnResolutionError(`${where}: no table made`);
        return { type: resource.Type, ref: name, attributes: { Arn: Table.TableArn } };
      }
      case 'AWS::SecretsManager::Secret': {
        const name = (props.Name as string | undefined) ?? this.generatedName(stack, logicalId, 200);
        // What CloudFormation stores at creation: the template with its generated key filled in.
        const generate = props.GenerateSecretString as
          | { SecretStringTemplate?: string; GenerateStringKey?: string }
          | undefined;
        const initial =
          (props.SecretString as string | undefined) ??
          (generate?.SecretStringTemplate && generate.GenerateStringKey
            ? JSON.stringify({
                ...JSON.parse(generate.SecretStringTemplate),
                [generate.GenerateStringKey]: randomBytes(16).toString('hex'),
              })
            : randomBytes(16).toString('hex'));
        let arn: string | undefined;
        try {
          arn = (
            await moto.secrets.send(
              new CreateSecretCommand({
                Name: name,
                Description: props.Description as string | undefined,
                KmsKeyId: props.KmsKeyId as string | undefined,
                SecretString: initial,
              }),
            )
          ).ARN;
        } catch (error) {
          if ((error as Error).name !== 'ResourceExistsException') throw error;
          // The template names it: made by an earlier run of this file against the same moto.
          arn = (await moto.secrets.send(new DescribeSecretCommand({ SecretId: name }))).ARN;
        }
        if (!arn) throw new CfnResolutionError(`${where}: no secret made`);
        return { type: resource.Type, ref: arn, attributes: { Id: arn } };
      }
      case 'AWS::SQS::Queue': {
        const name = (props.QueueName as string | undefined) ?? this.generatedName(stack, logicalId, 80);
        const attributes: Record<string, string> = {};
        for (const key of [
          'VisibilityTimeout',
          'MessageRetentionPeriod',
          'KmsMasterKeyId',
          'SqsManagedSseEnabled',
          'DelaySeconds',
          'ReceiveMessageWaitTimeSeconds',
        ]) {
          if (props[key] !== undefined) attributes[key] = String(props[key]);
        }
        if (props.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(props.RedrivePolicy);
        const { QueueUrl } = await moto.sqs.send(
          new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
        );
        if (!QueueUrl) throw new CfnResolutionError(`${where}: no queue made`);
        const { Attributes } = await moto.sqs.send(
          new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
        );
        return {
          type: resource.Type,
          ref: QueueUrl,
          attributes: { Arn: Attributes?.QueueArn as string, QueueName: name, QueueUrl },
        };
      }
      case 'AWS::Events::EventBus': {
        const name = props.Name as string;
        let arn: string | undefined;
        try {
          arn = (await moto.events.send(new CreateEventBusCommand({ Name: name }))).EventBusArn;
        } catch (error) {
          if ((error as Error).name !== 'ResourceAlreadyExistsException') throw error;
          arn = (await moto.events.send(new DescribeEventBusCommand({ Name: name }))).Arn;
        }
        if (!arn) throw new CfnResolutionError(`${where}: no bus made`);
        return { type: resource.Type, ref: name, attributes: { Arn: arn, Name: name } };
      }
      case 'AWS::ApiGatewayV2::Api': {
        // No SDK client for it in this repo: moto's REST API, as the SDK would call it.
        const response = await fetch(`${moto.endpoint}/v2/apis`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `AWS4-HMAC-SHA256 Credential=testing/20250101/${this.region}/apigateway/aws4_request, SignedHeaders=host, Signature=0`,
          },
          body: JSON.stringify({ name: props.Name, protocolType: props.ProtocolType }),
        });
        const api = (await response.json()) as { apiId?: string; apiEndpoint?: string };
        if (!response.ok || !api.apiId || !api.apiEndpoint)
          throw new CfnResolutionError(`${where}: moto made no API (${response.status})`);
        return {
          type: resource.Type,
          ref: api.apiId,
          attributes: { ApiEndpoint: api.apiEndpoint, ApiId: api.apiId },
        };
      }
      default:
        throw new CfnResolutionError(`${where}: cannot make a ${resource.Type} on moto`);
    }
  }
}
