/**
 * The library's entry points (package.json `exports`): the main one stays light (no AWS
 * SDK, no libext2fs), S3 and inspection load them on their own paths.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { REPO } from './helpers/env.js';

/** The CommonJS modules loaded by importing `specifier` (resolved as a user would, by package name). */
function loadedBy(specifier: string): string[] {
  const script = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify({ exports: Object.keys(m), loaded: Object.keys(require.cache) })))`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`importing ${specifier} failed: ${r.stderr}`);
  const { exports, loaded } = JSON.parse(r.stdout) as { exports: string[]; loaded: string[] };
  return [...exports.map((e) => `export:${e}`), ...loaded];
}

const aws = (names: string[]) => names.filter((n) => n.includes('/@aws-sdk/'));
const ext2fs = (names: string[]) => names.filter((n) => n.includes('/node_modules/ext2fs/'));

t.test('infra.operator: the build API without the AWS SDK or libext2fs', async (t) => {
  const main = loadedBy('infra.operator');
  t.ok(main.includes('export:buildRootfs') && main.includes('export:openImage') && main.includes('export:Ext4Writer'), 'the build API');
  t.same(aws(main), [], 'no AWS SDK module loaded');
  t.same(ext2fs(main), [], 'no libext2fs loaded');
  t.notOk(main.includes('export:uploadRootfs'), 'S3 is not on the main entry');
});

t.test('infra.operator/s3 and infra.operator/inspect load what they need', async (t) => {
  const s3 = loadedBy('infra.operator/s3');
  t.ok(['uploadRootfs', 'downloadRootfs', 'listRemoteRootfs', 'connectS3'].every((e) => s3.includes(`export:${e}`)), 'the S3 API');
  t.ok(aws(s3).length > 0, 'loads the AWS SDK');
  const inspect = loadedBy('infra.operator/inspect');
  t.ok(inspect.includes('export:inspectRootfs') && inspect.includes('export:withExt4File'), 'the inspection API');
  t.ok(ext2fs(inspect).length > 0, 'loads libext2fs');
  t.same(aws(inspect), [], 'and not the AWS SDK');
});
