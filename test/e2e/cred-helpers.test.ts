// credHelpers and credsStore from docker's config.json are run (docker-credential-<name> get),
// with a fake helper script on PATH, against a registry that wants Basic credentials.
import test from 'ava';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { dockerCredentials } from '../../src/oci/auth.js';
import { RegistryClient } from '../../src/oci/client.js';
import { tempDir } from '../helpers/temp-dir.js';

const BASIC = `Basic ${Buffer.from('helper-user:helper-secret').toString('base64')}`;

async function setup(t: import('ava').ExecutionContext) {
  const dir = tempDir('cred-helper-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The helper protocol: server on stdin, JSON on stdout; "credentials not found" otherwise.
  const log = join(dir, 'asked.log');
  await writeFile(
    join(dir, 'docker-credential-fake'),
    `#!/bin/sh\n[ "$1" = get ] || exit 2\nread server\necho "$server" >> '${log}'\ncase "$server" in\n  127.0.0.1:*) echo '{"ServerURL":"'"$server"'","Username":"helper-user","Secret":"helper-secret"}' ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n`,
  );
  await chmod(join(dir, 'docker-credential-fake'), 0o755);
  const oldPath = process.env.PATH;
  process.env.PATH = `${dir}${delimiter}${oldPath ?? ''}`;
  t.teardown(() => {
    process.env.PATH = oldPath;
  });
  const server = createServer((req, res) => {
    if (req.headers.authorization !== BASIC) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    res.end(JSON.stringify({ tags: ['v1'] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const config = async (c: object) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify(c));
    return dockerCredentials({ DOCKER_CONFIG: dir });
  };
  return {
    host,
    config,
    asked: () =>
      readFile(log, 'utf8').then(
        (s) => s.trim().split('\n'),
        () => [],
      ),
  };
}

test.serial('credHelpers: the helper named for the host gives its credentials', async (t) => {
  const { host, config, asked } = await setup(t);
  const credentials = await config({ credHelpers: { [host]: 'fake' } });
  t.deepEqual(await new RegistryClient(host, { credentials }).listTags('p/app'), ['v1']);
  t.deepEqual(await asked(), [host]);
});

test.serial('credsStore: used for hosts without their own entry; "not found" means no credentials', async (t) => {
  const { host, config, asked } = await setup(t);
  const credentials = await config({ credsStore: 'fake', auths: { 'other.example': { auth: Buffer.from('a:b').toString('base64') } } });
  t.deepEqual(await new RegistryClient(host, { credentials }).listTags('p/app'), ['v1']);
  t.deepEqual(await credentials('other.example'), { username: 'a', password: 'b' }, 'inline auths still answer for their host');
  t.is(await credentials('unknown.example'), undefined);
  t.deepEqual(await asked(), [host, 'unknown.example']);
});

test.serial('a helper missing from PATH is a clear error', async (t) => {
  const { host, config } = await setup(t);
  const credentials = await config({ credHelpers: { [host]: 'absent' } });
  await t.throwsAsync(new RegistryClient(host, { credentials }).listTags('p/app'), { message: /credential helper docker-credential-absent \(docker config, for 127\.0\.0\.1:\d+\) is not on PATH/ });
});
