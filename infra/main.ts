import { buildApp } from './app.js';

// The CDK app entry (cdk.json runs this for `cdk synth` / `cdk deploy`).
buildApp().app.synth();
