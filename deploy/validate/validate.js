#!/usr/bin/env node
// validate.js: CloudFormation template validation for `make check`.
//
// cfn-lint (npm) checks the template's structure, parameters, Ref/GetAtt/Sub
// targets, intrinsic functions, and each resource's type and properties
// (names, types, required ones) against a CloudFormation resource
// specification.  The one it bundles dates from 2019 and misses properties
// the template uses (LaunchTemplate MetadataOptions, Role Description), so
// this swaps in the specification @aws-cdk/cfnspec publishes, in the same
// format.  Every warning counts as an error.
//
// usage: node validate.js TEMPLATE [NAME=VALUE]...   (values for parameters
// without a default).  Exit 0 valid, 1 not, 2 usage.
'use strict';

const path = require('path');
const awsData = require('cfn-lint/lib/awsData');
const spec = require('@aws-cdk/cfnspec/spec/specification.json');

awsData.awsResources.ResourceTypes = spec.ResourceTypes;
awsData.awsResources.PropertyTypes = spec.PropertyTypes;
awsData.awsResources.ResourceSpecificationVersion = spec.ResourceSpecificationVersion;
const api = require('cfn-lint/lib/api');

const args = process.argv.slice(2);
if (args.length < 1) {
  console.error('usage: node validate.js TEMPLATE [NAME=VALUE]...');
  process.exit(2);
}
const parameters = {};
for (const a of args.slice(1)) {
  const i = a.indexOf('=');
  if (i < 1) {
    console.error(`validate: ${a}: want NAME=VALUE`);
    process.exit(2);
  }
  parameters[a.slice(0, i)] = a.slice(i + 1);
}
let r;
try {
  r = api.validateFile(path.resolve(args[0]), { parameters, guessParameters: [] });
} catch (e) {
  console.error(`${args[0]}: ${e.message.split('\n')[0]}`);
  process.exit(1);
}
const problems = [...r.errors.crit, ...r.errors.warn];
for (const p of problems)
  console.error(`${args[0]}: ${p.resource}: ${p.message}`);
const types = Object.keys(r.outputs || {}).length;
if (!r.templateValid || problems.length > 0) {
  console.error(`${args[0]}: INVALID (${problems.length} problem(s); specification ${spec.ResourceSpecificationVersion})`);
  process.exit(1);
}
console.log(`${args[0]}: valid CloudFormation (cfn-lint, resource specification ${spec.ResourceSpecificationVersion}; ${types} outputs)`);
