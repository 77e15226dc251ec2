// Reloads: a change to the config file, or to a checksum manifest it names, is picked up.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigHolder } from '../../src/config/config-holder.js';
import { loadConfigFile } from '../../src/config/load.js';
import { writeConfig } from '../helpers/config.js';

const SUM_A = 'a'.repeat(64);
const SUM_B = 'b'.repeat(64);

test('a changed checksums: manifest is reloaded like the config, and watched again after a reload', async (t) => {
  const file = writeConfig(`mirrors:\n  a: { url: https://a.example }\nroutes:\n  - prefix: /f\n    default: a\n    checksums: sums/one.yaml\n`);
  mkdirSync(join(dirname(file), 'sums'));
  const manifest = join(dirname(file), 'sums/one.yaml');
  writeFileSync(manifest, `files:\n- name: tool\n  sha256: ${SUM_A}\n`);
  const loaded = loadConfigFile(file);
  if (!loaded.ok) return t.fail();
  const holder = new ConfigHolder(file, loaded.config);
  try {
    holder.watchFile(20);
    const sumOfTool = () => holder.current.binaryRoutes[0]!.checksums.get('tool');
    t.is(sumOfTool(), SUM_A);
    // The next reload's outcome; a watcher that never fires fails here, not at ava's timeout.
    const next = () =>
      new Promise<boolean>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reload within 15 s of the change')), 15_000);
        holder.onReload((r) => {
          clearTimeout(timer);
          resolve(r.ok);
        });
      });

    let reloaded = next();
    writeFileSync(manifest, `files:\n- name: tool\n  sha256: ${SUM_B}\n`);
    t.true(await reloaded);
    t.is(sumOfTool(), SUM_B);

    // The config now names another manifest: that one is watched from then on.
    const other = join(dirname(file), 'sums/two.yaml');
    writeFileSync(other, `files:\n- name: tool\n  sha256: ${SUM_A}\n`);
    reloaded = next();
    writeFileSync(file, `mirrors:\n  a: { url: https://a.example }\nroutes:\n  - prefix: /f\n    default: a\n    checksums: sums/two.yaml\n`);
    t.true(await reloaded);
    t.is(sumOfTool(), SUM_A);
    reloaded = next();
    writeFileSync(other, `files:\n- name: tool\n  sha256: ${SUM_B}\n`);
    t.true(await reloaded);
    t.is(sumOfTool(), SUM_B);
  } finally {
    holder.close();
  }
});
