// The DynamoDB floor the parts are measured against: the client classes, exported so
// that esbuild keeps them (the SDK declares "sideEffects": false).
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
