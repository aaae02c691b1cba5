/** InfraError: facts in fields, hints that name options by their library name, worded by each front end. */
import t from 'tap';
import { InfraError, isInfraError } from '../src/errors.js';
import { flagOf } from '../src/cli/main.js';

t.test('a hint names options; the library words them plainly, the CLI as flags', async (t) => {
  const err = new InfraError('SIZE', 'The image does not fit in 64 MB: it needs at least 80 MB.', {
    option: 'size',
    path: '/tmp/x.ext4',
    hint: 'rerun with {size} 80 or more, or {size} auto; or write elsewhere with {imagesDir}',
  });
  t.equal(err.detail, 'The image does not fit in 64 MB: it needs at least 80 MB.');
  t.equal(err.message, 'The image does not fit in 64 MB: it needs at least 80 MB: rerun with the size option 80 or more, or the size option auto; or write elsewhere with the imagesDir option');
  t.equal(err.render(flagOf), 'The image does not fit in 64 MB: it needs at least 80 MB: rerun with --size 80 or more, or --size auto; or write elsewhere with --images-dir');
  t.same({ code: err.code, option: err.option, path: err.path, exit: err.exitCode }, { code: 'SIZE', option: 'size', path: '/tmp/x.ext4', exit: 1 });
  t.notOk('layer' in err, 'absent facts are absent');
});

t.test('outer callers add facts without losing the cause or the hint', async (t) => {
  const cause = new Error('inner');
  const err = new InfraError('TAR', 'truncated', { hint: 'pull again', cause }).with({ layer: 2, digest: 'sha256:ab' });
  t.ok(isInfraError(err, 'TAR'));
  t.same([err.layer, err.digest, err.hint, err.cause], [2, 'sha256:ab', 'pull again', cause]);
  t.equal(err.message, 'truncated: pull again');
  t.equal(new InfraError('USAGE', 'bad').exitCode, 2, 'usage errors exit 2');
});

t.test('flags as the command line spells them', async (t) => {
  t.same(['size', 'imagesDir', 'guestRunner', 'output'].map(flagOf), ['--size', '--images-dir', '--guest-runner', '--output']);
});
