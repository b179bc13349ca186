// Offline checks of the deploy files (no Docker engine or helm binary on the build machines):
// every YAML/JSON parses, compose has the services and wiring CLARA needs, the chart's values hold what
// the templates reference. Run: node deploy/validate.mjs
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const problems = [];
const check = (ok, message) => ok || problems.push(message);

const compose = parse(readFileSync(join(here, 'compose/docker-compose.yml'), 'utf8'), { merge: true });
const services = compose.services ?? {};
for (const name of ['training', 'training-worker', 'datasets', 'serving', 'postgres', 'nats', 'chroma', 'couchdb', 'neo4j', 'keycloak']) {
  check(services[name], `compose: service ${name} missing`);
}
check(services['training-worker']?.deploy?.replicas === 2, 'compose: training-worker should run 2 replicas');
check(services.nats?.command?.includes('--jetstream'), 'compose: nats without JetStream');
check(services.keycloak?.profiles?.includes('keycloak'), 'compose: keycloak should be an optional profile');
for (const name of ['training', 'training-worker', 'datasets', 'serving']) {
  const s = services[name] ?? {};
  check(s.environment?.DATABASE_URL?.startsWith('postgres://'), `compose: ${name} has no DATABASE_URL`);
  check(s.environment?.NATS_URL === 'nats://nats:4222', `compose: ${name} has no NATS_URL`);
  check(s.environment?.CLARA_SECURITY_MODE, `compose: ${name} has no CLARA_SECURITY_MODE`);
  check(s.command?.[1]?.startsWith('apps/') && s.command[1].endsWith('/dist/main.js'), `compose: ${name} command`);
  check(s.volumes?.includes('clara-data:/data'), `compose: ${name} does not mount the shared data volume`);
  if (name !== 'training-worker') check(s.healthcheck?.test?.join(' ').includes('/health'), `compose: ${name} has no /health check`);
}
JSON.parse(readFileSync(join(here, 'compose/keycloak/clara-realm.json'), 'utf8'));

const chart = join(here, 'helm/clara');
const chartYaml = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8'));
check(chartYaml.apiVersion === 'v2' && chartYaml.name === 'clara', 'helm: Chart.yaml');
const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8'));
check(values.worker?.replicas >= 1, 'helm: worker.replicas');
for (const [name, app] of Object.entries(values.apps ?? {})) {
  check(Number.isInteger(app.port) && app.portEnv && app.script, `helm: apps.${name} needs port, portEnv, script`);
}
// every .Values.x.y path used by a template exists in values.yaml
const templates = join(chart, 'templates');
for (const file of readdirSync(templates)) {
  const text = readFileSync(join(templates, file), 'utf8');
  for (const [, path] of text.matchAll(/\.Values\.([\w.]+)/g)) {
    let node = values;
    for (const key of path.split('.')) node = node?.[key];
    check(node !== undefined, `helm: templates/${file} uses .Values.${path}, not in values.yaml`);
  }
  // template actions must balance
  check((text.match(/\{\{/g) ?? []).length === (text.match(/\}\}/g) ?? []).length, `helm: templates/${file} has unbalanced {{ }}`);
}
for (const doc of parseAllDocuments(readFileSync(join(chart, 'values.yaml'), 'utf8'))) check(doc.errors.length === 0, 'helm: values.yaml');

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('deploy files OK (YAML parsed, compose wiring and chart values checked; helm/docker not run)');
