// Validates Kubernetes manifests offline: every YAML document of every file
// given is checked against the OpenAPI schema of its apiVersion and kind
// (npm's kubernetes-models, compiled JSON Schema validators), plus two rules
// the API server enforces that a schema cannot express. Exit 0 when all are
// valid, 1 otherwise, one line per problem.
//
//   node scripts/check-k8s/validate.cjs [--configmaps DIR] config/k8s/*.yaml
//
// --configmaps DIR writes each ConfigMap's files to DIR/<name>/, so that the
// functions they hold can be checked with `processor validate`.
//
// What a schema does not catch: unknown field names (the schemas allow
// them; `kubectl apply` rejects them on the server) and references to
// other objects (a Secret, an image) that exist only in a cluster.
"use strict";

const fs = require("fs");
const YAML = require("yaml");

// "v1" -> kubernetes-models/v1, "apps/v1" -> kubernetes-models/apps/v1.
function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return null;
  let models;
  try {
    models = require(`kubernetes-models/${apiVersion}`);
  } catch {
    return null;
  }
  const Model = Object.prototype.hasOwnProperty.call(models, kind) ? models[kind] : null;
  return Model && Model.kind === kind && Model.apiVersion === apiVersion ? Model : null;
}

function podSpecOf(object) {
  if (object.kind === "Pod") return object.spec;
  return object.spec && object.spec.template && object.spec.template.spec;
}

// What the API server refuses beyond the schema.
function semanticProblems(object) {
  const problems = [];
  const selector = object.spec && object.spec.selector && object.spec.selector.matchLabels;
  const labels = object.spec && object.spec.template && object.spec.template.metadata &&
    object.spec.template.metadata.labels;
  if (selector && object.spec.template) {
    for (const [key, value] of Object.entries(selector)) {
      if (!labels || labels[key] !== value) {
        problems.push(`spec.selector.matchLabels ${key}=${value} does not match the template's labels`);
      }
    }
  }
  const pod = podSpecOf(object);
  for (const container of (pod && pod.containers) || []) {
    const names = new Set((container.ports || []).map((p) => p.name).filter(Boolean));
    for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      const port = container[probe] && container[probe].httpGet && container[probe].httpGet.port;
      if (typeof port === "string" && !names.has(port)) {
        problems.push(`container ${container.name}: ${probe} port '${port}' is not one of its named ports`);
      }
    }
  }
  return problems;
}

function lineOf(text, offset) {
  return text.slice(0, offset).split("\n").length;
}

let failures = 0;
let checked = 0;
const report = (where, message) => {
  failures++;
  console.error(`${where}: ${message}`);
};

const args = process.argv.slice(2);
let configMapDir = null;
if (args[0] === "--configmaps") {
  configMapDir = args[1];
  args.splice(0, 2);
}
const files = args;
if (files.length === 0 || (configMapDir !== null && !configMapDir)) {
  console.error("usage: validate.cjs [--configmaps DIR] FILE.yaml...");
  process.exit(2);
}
for (const file of files) {
  const text = fs.readFileSync(file, "utf8");
  for (const doc of YAML.parseAllDocuments(text)) {
    const where = `${file}:${lineOf(text, doc.range ? doc.range[0] : 0)}`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) report(where, `YAML: ${e.message.split("\n")[0]}`);
      continue;
    }
    const object = doc.toJS();
    if (object === null || object === undefined) continue; // an empty document
    if (typeof object !== "object" || Array.isArray(object)) {
      report(where, "not a mapping");
      continue;
    }
    const name = `${object.kind || "?"}/${(object.metadata && object.metadata.name) || "?"}`;
    const Model = modelFor(object.apiVersion, object.kind);
    if (!Model) {
      report(where, `${name}: unknown apiVersion/kind ${object.apiVersion}/${object.kind}`);
      continue;
    }
    checked++;
    try {
      new Model(object).validate();
    } catch (e) {
      for (const line of String(e.message).split(/, (?=data)/)) report(where, `${name}: ${line}`);
    }
    for (const problem of semanticProblems(object)) report(where, `${name}: ${problem}`);
    if (configMapDir && object.kind === "ConfigMap" && object.data) {
      const dir = `${configMapDir}/${object.metadata.name}`;
      fs.mkdirSync(dir, { recursive: true });
      for (const [key, value] of Object.entries(object.data)) fs.writeFileSync(`${dir}/${key}`, value);
    }
  }
}
if (failures > 0) {
  console.error(`${failures} problem(s)`);
  process.exit(1);
}
console.log(`${checked} object(s) valid in ${files.length} file(s)`);
