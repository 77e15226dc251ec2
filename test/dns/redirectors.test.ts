// The dns: and redirectors: sections: the example compiles, and every mistake an
// operator can make is reported at file:line:column.
import test from 'ava';
import { compile, problemsOf } from '../helpers/config.js';

const ROUTES = `mirrors:
  us: { url: https://us.example/files }
routes:
  - prefix: /files
    default: us
`;

const EXAMPLE = `${ROUTES}dns:
  name: artifacts.example
redirectors:
  europe:   { host: europe.artifacts.example,   addresses: [192.0.2.10], regions: [Europe, Africa] }
  asia:     { host: asia.artifacts.example,     addresses: [192.0.2.30, "2001:db8::30"], regions: [Asia, Oceania] }
  americas: { host: americas.artifacts.example, addresses: [192.0.2.20], regions: [Americas], default: true }
`;

test('the issue example compiles: continents, groups, one default', (t) => {
  const dns = compile(EXAMPLE).geoDns!;
  t.is(dns.name, 'artifacts.example');
  t.is(dns.zone, 'artifacts.example');
  t.is(dns.ttl, 60);
  t.deepEqual(dns.nameservers, ['ns1.artifacts.example']);
  t.deepEqual(
    dns.redirectors.map((r) => [r.name, r.host, r.ipv4, r.ipv6, r.continents, r.countries, r.isDefault]),
    [
      ['europe', 'europe.artifacts.example', ['192.0.2.10'], [], ['EU', 'AF'], [], false],
      ['asia', 'asia.artifacts.example', ['192.0.2.30'], ['2001:db8::30'], ['AS', 'OC'], [], false],
      ['americas', 'americas.artifacts.example', ['192.0.2.20'], [], ['NA', 'SA'], [], true],
    ],
  );
  t.is(dns.defaultRedirector.name, 'americas');
});

test('countries, continent:/country: prefixes, a zone above the name, trailing dots', (t) => {
  const dns = compile(`${ROUTES}dns:
  name: Artifacts.K8s.io.
  zone: k8s.io
  ttl: 30
  nameservers: [ns-a.k8s.io, ns-b.k8s.io]
redirectors:
  eu: { host: eu.artifacts.k8s.io, addresses: ["2001:DB8::1", 192.0.2.1], regions: [EU, country:NA, JP], default: true }
`).geoDns!;
  t.is(dns.name, 'artifacts.k8s.io');
  t.is(dns.zone, 'k8s.io');
  t.deepEqual(dns.redirectors[0]!.ipv6, ['2001:db8::1']);
  t.deepEqual(dns.redirectors[0]!.countries, ['NA', 'JP']);
  t.deepEqual(dns.nameservers, ['ns-a.k8s.io', 'ns-b.k8s.io']);
});

test('a config without dns: has no geoDns', (t) => {
  t.is(compile(ROUTES).geoDns, undefined);
});

const bad: [string, string, string[]][] = [
  [
    'no default',
    `${ROUTES}dns: { name: artifacts.example }\nredirectors:\n  eu: { host: eu.artifacts.example, addresses: [192.0.2.1], regions: [Europe] }\n`,
    ['config.yaml:7:1: no redirector has default: true: exactly one must answer the clients no region matches'],
  ],
  [
    'two defaults',
    `${ROUTES}dns: { name: artifacts.example }\nredirectors:\n  eu: { host: eu.artifacts.example, addresses: [192.0.2.1], default: true }\n  us: { host: us.artifacts.example, addresses: [192.0.2.2], default: true }\n`,
    ['config.yaml:9:70: redirector "us" has default: true, but "eu" already has it: exactly one may'],
  ],
  [
    'bad addresses',
    `${ROUTES}dns: { name: artifacts.example }\nredirectors:\n  eu: { host: eu.artifacts.example, addresses: [192.0.2.300, "2001:db8::zz", "1.2.3.4:80"], default: true }\n`,
    ['config.yaml:8:49: "192.0.2.300" is not an IPv4 or IPv6 address', 'config.yaml:8:62: "2001:db8::zz" is not an IPv4 or IPv6 address', 'config.yaml:8:78: "1.2.3.4:80" is not an IPv4 or IPv6 address'],
  ],
  [
    'unknown region, a CIDR, a cloud region, a region claimed twice',
    `${ROUTES}dns: { name: artifacts.example }\nredirectors:\n  eu:\n    host: eu.artifacts.example\n    addresses: [192.0.2.1]\n    regions: [Europa, 10.0.0.0/8, "aws:us-east-1", Europe]\n    default: true\n  eu2: { host: eu2.artifacts.example, addresses: [192.0.2.2], regions: [EU, DE] }\n`,
    [
      'config.yaml:11:15: unknown region "Europa"',
      'config.yaml:11:23: "10.0.0.0/8": GeoDNS answers by continent or country only',
      'config.yaml:11:35: "aws:us-east-1": GeoDNS answers by continent or country only',
      'config.yaml:13:73: continent EU (Europe) is already answered by redirector "eu"',
    ],
  ],
  [
    'hosts outside the zone, the public name as a host, a host twice',
    `${ROUTES}dns: { name: artifacts.example }\nredirectors:\n  a: { host: a.other.example, addresses: [192.0.2.1], default: true }\n  b: { host: artifacts.example, addresses: [192.0.2.2] }\n  c: { host: A.other.example, addresses: [192.0.2.3] }\n`,
    [
      'config.yaml:8:14: "a.other.example" is not within the zone "artifacts.example"',
      'config.yaml:9:14: "artifacts.example" is the public name itself',
      'config.yaml:10:14: "a.other.example" is not within the zone "artifacts.example"',
      'config.yaml:10:14: "a.other.example" is already the host of redirector "a"',
    ],
  ],
  [
    'redirectors without dns, bad names, unknown keys',
    `${ROUTES}redirectors:\n  EU: { host: "eu..example", addresses: [], default: yes, region: [Europe] }\n`,
    [
      'config.yaml:6:1: redirectors: needs a dns: section',
      'config.yaml:7:15: must be a DNS name',
      'config.yaml:7:41: Too small',
      'config.yaml:7:54: Invalid input: expected boolean',
      'config.yaml:7:59: unknown key "region"',
    ],
  ],
  [
    'a redirector name that cannot name a pool',
    `${ROUTES}dns: { name: artifacts.example }\nredirectors:\n  Europe_1: { host: eu.artifacts.example, addresses: [192.0.2.1], default: true }\n`,
    ['config.yaml:8:3: redirector name "Europe_1": use lowercase letters, digits and -'],
  ],
  ['redirectors without dns:', `${ROUTES}redirectors:\n  eu: { host: eu.example, addresses: [192.0.2.1], default: true }\n`, ['config.yaml:6:1: redirectors: needs a dns: section']],
  ['dns without redirectors:', `${ROUTES}dns: { name: artifacts.example }\n`, ['config.yaml:6:1: dns: needs a redirectors: section']],
];

for (const [name, text, expected] of bad) {
  test(`bad GeoDNS config: ${name}`, (t) => {
    const problems = problemsOf(text);
    t.is(problems.length, expected.length, problems.join('\n'));
    for (const [i, prefix] of expected.entries()) t.true(problems[i]?.startsWith(prefix), `${problems[i]}\n  should start with\n${prefix}`);
  });
}
