/**
 * The pieces of the static configuration on their own: the shell subset follows the forms
 * Debian's postinst scripts use (the loops and conditional slaves of openjdk's, gcc's
 * commented-out continuation, php's `${binary}` loop, functions, case, command
 * substitution), recording what it does not do; OpenSSL's subject hash equals
 * `openssl x509 -hash` on names that exercise its canonical form; the JKS keystore reads
 * back with keytool.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScript, type ScriptHost } from '../../src/packages/configure/shell-run.js';
import { subjectHash } from '../../src/packages/configure/subject-hash.js';
import { javaKeystore } from '../../src/packages/configure/java-keystore.js';
import { checkConfigureMode } from '../../src/packages/configure/configure.js';
import { runCli } from '../helpers/cli.js';
import { prerequisites, tempDir } from '../helpers/env.js';

/** A host that knows `update-alternatives` and `dpkg`, with `files` existing. */
function recordingHost(files: string[]): { host: ScriptHost; calls: string[] } {
  const calls: string[] = [];
  const host: ScriptHost = {
    command: (argv) => {
      if (argv[0] === 'update-alternatives') {
        calls.push(argv.join(' '));
        return { status: 0, output: '' };
      }
      if (argv[0] === 'dpkg' && argv[1] === '--print-architecture') return { status: 0, output: 'amd64\n' };
      return undefined;
    },
    fileTest: (op, path) => (op === '-e' || op === '-f') && files.includes(path),
    source: () => false,
    list: (dir) => files.filter((path) => path.startsWith(`${dir}/`) && !path.slice(dir.length + 1).includes('/')).map((path) => path.slice(dir.length + 1)).sort(),
    write: (path, text, append) => {
      calls.push(`${append ? 'append' : 'write'} ${path}: ${JSON.stringify(text)}`);
      return true;
    },
  };
  return { host, calls };
}

t.test("openjdk's loop: tools, priority, a slave only where the man page exists", async (t) => {
  const script = `#!/bin/sh
set -e
priority=1711
basedir=/usr/lib/jvm/java-17-openjdk-amd64
mandir=$basedir/man
jre_tools='java keytool'
case "$1" in
configure)
    if [ -z "$2" ]; then
	update_alternatives=y
    fi
    if [ "$update_alternatives" = y ]; then
    if [ -n "$multiarch" ] && [ "$DPKG_MAINTSCRIPT_ARCH" != $(dpkg --print-architecture) ]; then
	priority=$(expr $priority - 1)
    fi
    for i in $jre_tools; do
	unset slave1 slave2 || true
        if [ -e $mandir/man1/$i.1.gz ]; then
	    slave1="--slave \\
		/usr/share/man/man1/$i.1.gz \\
                $i.1.gz \\
                $mandir/man1/$i.1.gz"
	fi
        if false && [ -e $mandir/ja/man1/$i.1.gz ]; then
	    slave2="--slave x y z"
	fi
        update-alternatives \\
            --install \\
            /usr/bin/$i \\
            $i \\
            $basedir/bin/$i \\
            $priority \\
	    $slave1 $slave2
    done
    fi
    dpkg-trigger update-ca-certificates-java
    ;;
esac
exit 0
`;
  const { host, calls } = recordingHost(['/usr/lib/jvm/java-17-openjdk-amd64/man/man1/java.1.gz']);
  const run = runScript(script, ['configure', ''], { DPKG_MAINTSCRIPT_ARCH: 'amd64' }, host, 'test');
  t.same(calls, [
    'update-alternatives --install /usr/bin/java java /usr/lib/jvm/java-17-openjdk-amd64/bin/java 1711 --slave /usr/share/man/man1/java.1.gz java.1.gz /usr/lib/jvm/java-17-openjdk-amd64/man/man1/java.1.gz',
    'update-alternatives --install /usr/bin/keytool keytool /usr/lib/jvm/java-17-openjdk-amd64/bin/keytool 1711',
  ]);
  t.same(run.unhandled, ['dpkg-trigger update-ca-certificates-java'], 'what the host does not do is recorded');
  t.equal(run.status, 0);
});

t.test("gcc's continuation into a comment, php's ${binary} loop, functions and pipelines", async (t) => {
  const script = `set -e
update-alternatives --quiet \\
    --install /usr/bin/cc cc /usr/bin/gcc 20 \\
    #--slave /usr/share/man/man1/cc.1.gz cc.1.gz /usr/share/man/man1/gcc.1.gz

setup() {
    for binary in php phar; do
        update-alternatives --install /usr/bin/\${binary} \${binary} "/usr/bin/\${binary}8.2" 82
    done
    return 3
}
if [ "$1" = "configure" ]; then setup || echo "setup said $?" > /dev/null; fi
ls /etc | grep x
name=\${0##*.}
test "$name" = "postinst" && update-alternatives --install /a a "/b c" 1
`;
  const { host, calls } = recordingHost([]);
  const run = runScript(script, ['configure', ''], {}, host, '/var/lib/dpkg/info/x.postinst');
  t.same(calls, [
    'update-alternatives --quiet --install /usr/bin/cc cc /usr/bin/gcc 20',
    'update-alternatives --install /usr/bin/php php /usr/bin/php8.2 82',
    'update-alternatives --install /usr/bin/phar phar /usr/bin/phar8.2 82',
    'update-alternatives --install /a a /b c 1',
  ]);
  t.same(run.unhandled, ['(a pipeline: 2 commands)']);
});

t.test("python3's debian_config from a here-document, echo into a file; reading a file is not followed", async (t) => {
  const script = `new_config_file()
{
    cat > /etc/python3/debian_config <<-EOF
	[DEFAULT]
	byte-compile = standard
	EOF
}
case "$1" in
    configure)
	[ -f /etc/python3/debian_config ] || new_config_file
	echo "x $1" >> /etc/log
	echo y >/dev/null 2>&1
	cat < /etc/hostname
	cat <<EOF > /etc/expanded
$HOME
EOF
esac
`;
  const { host, calls } = recordingHost([]);
  const run = runScript(script, ['configure', ''], {}, host, 't');
  t.same(calls, ['write /etc/python3/debian_config: "[DEFAULT]\\nbyte-compile = standard\\n"', 'append /etc/log: "x configure\\n"']);
  t.same(run.unhandled, ['cat < /etc/hostname', 'cat << EOF']);
});

t.test("python3's rtupdate hooks: pathname expansion, none matching leaves the pattern", async (t) => {
  const script = 'for hook in /usr/share/python3/runtime.d/*.rtupdate /none/*.x; do update-alternatives "$hook"; done\n';
  const { host, calls } = recordingHost(['/usr/share/python3/runtime.d/b.rtupdate', '/usr/share/python3/runtime.d/a.rtupdate', '/usr/share/python3/runtime.d/.c.rtupdate', '/usr/share/python3/runtime.d/d.txt']);
  runScript(script, ['configure', ''], {}, host, 't');
  t.same(calls, ['update-alternatives /usr/share/python3/runtime.d/a.rtupdate', 'update-alternatives /usr/share/python3/runtime.d/b.rtupdate', 'update-alternatives /none/*.x']);
});

t.test('an unreadable script and an endless loop are not followed', async (t) => {
  const { host } = recordingHost([]);
  t.match(runScript('if true; then\n', ['configure', ''], {}, host, 'the postinst of p').unhandled[0], /the postinst of p cannot be read as a shell script/);
  t.match(runScript('while true; do :; done\n', [], {}, host, 't').unhandled.at(-1), /more than \d+ steps/, 'loops are bounded');
});

t.test('the subject hash equals openssl x509 -hash', async (t) => {
  if (!prerequisites(t, { tools: ['openssl'] })) return;
  const dir = tempDir(t);
  const subjects = [
    '/CN=Example Root CA/O=Example Inc./C=US',
    '/CN=  Mixed   CASE\tName  /O=ACME+OU=Two Values',
    '/CN=Főtanúsítvány/O=NetLock Kft./L=Budapest/C=HU',
    '/emailAddress=Root@Example.COM/CN=e-mail',
  ];
  for (const [index, subject] of subjects.entries()) {
    const pem = join(dir, `${index}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${index}.key`), '-out', pem, '-subj', subject, '-utf8', '-days', '1'], { stdio: 'ignore' });
    const expected = execFileSync('openssl', ['x509', '-noout', '-hash', '-in', pem], { encoding: 'utf8' }).trim();
    t.equal(subjectHash(new X509Certificate(execFileSync('cat', [pem]))), expected, subject);
  }
});

t.test('the JKS keystore reads back with keytool', async (t) => {
  if (!prerequisites(t, { tools: ['openssl', 'keytool'] })) return;
  const dir = tempDir(t);
  const pem = join(dir, 'a.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'a.key'), '-out', pem, '-subj', '/CN=Test', '-days', '1'], { stdio: 'ignore' });
  const data = execFileSync('cat', [pem]);
  const store = join(dir, 'cacerts');
  writeFileSync(store, javaKeystore([{ pem: 'Test_Root.pem', data }], 1_700_000_000_000));
  const listed = execFileSync('keytool', ['-list', '-rfc', '-keystore', store, '-storepass', 'changeit'], { encoding: 'utf8' });
  t.match(listed, /Keystore type: JKS/);
  t.match(listed, /Alias name: debian:test_root\.pem/);
  const fingerprints = execFileSync('keytool', ['-list', '-keystore', store, '-storepass', 'changeit'], { encoding: 'utf8' });
  t.ok(fingerprints.includes(new X509Certificate(data).fingerprint256), 'the certificate as given (its SHA-256 fingerprint)');
  t.throws(() => execFileSync('keytool', ['-list', '-keystore', store, '-storepass', 'wrongpass'], { stdio: 'pipe' }), 'the integrity digest is checked against the store password');
});

t.test('--configure: vm is refused until the VM pass exists, auto notes that it configures statically', async (t) => {
  t.throws(() => checkConfigureMode('vm'), { code: 'USAGE', option: 'configure', message: /not built yet/ });
  t.throws(() => checkConfigureMode('chroot'), { code: 'USAGE', message: /Known: auto, static, vm/ });
  t.same(checkConfigureMode('static').notes, []);
  t.match(checkConfigureMode('auto').notes, [/VM pass .* not built yet: configuring statically/]);
  const refused = await runCli(['rootfs', 'create', '--lang', 'python', '--base', 'debian', '--configure', 'vm', '--output', '/nonexistent/x.ext4']);
  t.equal(refused.status, 2, 'a usage error, before anything is pulled');
  t.match(refused.stderr, /not built yet[\s\S]*--configure static/, 'the hint names the flag');
});
