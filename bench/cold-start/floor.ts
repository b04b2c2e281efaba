// The DynamoDB floor the parts are measured against.
import '@aws-sdk/client-dynamodb';
import '@aws-sdk/lib-dynamodb';
