/**
 * Hand-built archives for what real tools will not write on demand: base-256 numbers,
 * odd PAX records, global headers, GNU long names, old-GNU and PAX 1.0 sparse maps, every
 * type flag, chunk boundaries, and the end-of-archive rules.
 */
import t from 'tap';
import { readTar } from '../../src/tar/reader.js';
import {
  buildLayer,
  chunked,
  gnuLongLink,
  gnuLongName,
  header,
  member,
  paxMember,
  readAll,
  sparseExtension,
  tarball,
} from '../helpers/tar-build.js';

const GiB = 1024 ** 3;

function read(tar: Buffer, chunkSize = 64 * 1024, options?: { maxEntrySize?: number }) {
  return readAll(readTar(chunked(tar, chunkSize), options));
}

t.test('ustar prefix and 255-byte names', async (t) => {
  const prefix = `${'p'.repeat(150)}/dir`;
  const name = 'n'.repeat(100);
  const [m] = await read(tarball(member({ name, prefix }, 'x')));
  t.equal(m.entry.path, `${prefix}/${name}`);
  t.equal(m.entry.path.length, 255);
  const pax = await read(buildLayer([{ path: 'q'.repeat(255), data: 'y' }]));
  t.equal(pax[0].entry.path, 'q'.repeat(255), 'PAX path');
});

t.test('GNU long name and long link, with non-UTF-8 bytes', async (t) => {
  const longName = Buffer.concat([Buffer.from('a'.repeat(200)), Buffer.from([0xff, 0xc3, 0x28])]);
  const longTarget = `${'t/'.repeat(80)}target`;
  const members = await read(
    tarball(
      gnuLongName(longName),
      member({ name: 'truncated', format: 'gnu' }, 'data'),
      gnuLongName('link-name'),
      gnuLongLink(longTarget),
      member({ name: 'short', typeflag: '2', linkname: 'short-target', format: 'gnu' }),
      member({ name: 'after', format: 'gnu' }),
    ),
  );
  t.equal(members[0].entry.path, longName.toString('latin1'), 'name bytes kept one char per byte');
  t.same(Buffer.from(members[0].entry.path, 'latin1'), longName);
  t.equal(members[0].data.toString(), 'data');
  t.equal(members[1].entry.path, 'link-name');
  t.equal(members[1].entry.type, 'symlink');
  t.equal(members[1].entry.linkname, longTarget);
  t.equal(members[2].entry.path, 'after', 'long names apply to one entry only');
});

t.test('base-256 numbers', async (t) => {
  t.test('size > 8 GiB parses; the missing data is a truncation error', async (t) => {
    const size = 9 * GiB + 5;
    const tar = Buffer.concat([header({ name: 'huge', size: { base256: size } }), Buffer.alloc(4096, 1)]);
    const members = readTar(chunked(tar, 1000));
    const first = await members.next();
    t.equal(first.done, false);
    if (first.done) return;
    t.equal(first.value.entry.size, size, 'size from base-256');
    let seen = 0;
    await t.rejects(
      (async () => {
        for await (const piece of first.value.body) seen += piece.length;
      })(),
      { code: 'TAR', message: /entry "huge" claims 9663676421 bytes but the archive ends after 4096/ },
    );
    t.equal(seen, 4096, 'the bytes that exist were delivered');
  });
  t.test('the same error when the body is skipped', async (t) => {
    const tar = Buffer.concat([header({ name: 'huge', size: { base256: 9 * GiB } }), Buffer.alloc(100)]);
    await t.rejects(read(tar), { code: 'TAR', message: /entry "huge" claims 9663676416 bytes but the archive ends after 100/ });
  });
  t.test('negative mtime, big uid, octal without terminator', async (t) => {
    const [m] = await read(
      tarball(
        member({ name: 'old', mtime: { base256: -1000 }, uid: { base256: 2 ** 40 }, gid: { raw: '77777777' } }),
      ),
    );
    t.same(m.entry.mtime, { sec: -1000, nsec: 0 });
    t.equal(m.entry.uid, 2 ** 40);
    t.equal(m.entry.gid, 0o77777777);
  });
  t.test('absurd and negative sizes are rejected', async (t) => {
    await t.rejects(read(tarball(member({ name: 'neg', size: { base256: -1 } }))), {
      code: 'TAR',
      message: /entry "neg".*negative size/,
    });
    await t.rejects(read(tarball(header({ name: 'vast', size: { base256: 2n ** 80n } }))), {
      code: 'TAR',
      message: /entry "vast".*absurd size/,
    });
    await t.rejects(read(tarball(member({ name: 'big' }, Buffer.alloc(2000))), 64 * 1024, { maxEntrySize: 1000 }), {
      code: 'TAR',
      message: /entry "big".*claims 2000 bytes, more than the limit of 1000.*damaged/,
    });
  });
});

t.test('PAX records', async (t) => {
  t.test('times with fractions, negative times', async (t) => {
    const [m] = await read(
      tarball(
        paxMember({ mtime: '1700000000.123456789123', atime: '-1000.5', ctime: '-1' }),
        member({ name: 'timed', mtime: 5 }),
      ),
    );
    t.same(m.entry.mtime, { sec: 1700000000, nsec: 123456789 }, 'more than 9 digits truncated');
    t.same(m.entry.atime, { sec: -1001, nsec: 500000000 }, '-1000.5');
    t.same(m.entry.ctime, { sec: -1, nsec: 0 });
  });
  t.test('ids, names, size, link, devices override the header', async (t) => {
    const [dev, link, file] = await read(
      tarball(
        paxMember({ uid: '3000000000', gid: '70000', uname: 'ünï', gname: 'grp', 'SCHILY.devmajor': '259', 'SCHILY.devminor': '1048575' }),
        member({ name: 'dev', typeflag: '4', uid: 1, gid: 2, uname: 'x', gname: 'y', devmajor: 1, devminor: 2 }),
        paxMember({ linkpath: `${'l'.repeat(300)}` }),
        member({ name: 'link', typeflag: '2', linkname: 'short' }),
        paxMember({ size: '3', path: 'real/path' }),
        member({ name: 'header/path', size: 999 }, 'abc'),
      ),
    );
    t.match(dev.entry, { type: 'block', uid: 3000000000, gid: 70000, uname: 'ünï', gname: 'grp', devMajor: 259, devMinor: 1048575 });
    t.equal(link.entry.linkname, 'l'.repeat(300));
    t.match(file.entry, { path: 'real/path', size: 3 });
    t.equal(file.data.toString(), 'abc');
  });
  t.test('binary xattr values and hdrcharset=BINARY paths stay bytes', async (t) => {
    const cap = Buffer.from('01000002ffffffffff010000000000000000000000', 'hex');
    const path = Buffer.from([0x64, 0x2f, 0xff, 0x80, 0x0a, 0x3d]); // "d/\xff\x80\n="
    const [m] = await read(
      tarball(
        paxMember([
          ['hdrcharset', 'BINARY'],
          ['path', path],
          ['SCHILY.xattr.security.capability', cap],
          ['SCHILY.xattr.user.with%3Dequals%25', Buffer.from([0, 0xff])],
          ['SCHILY.xattr.security.selinux', 'system_u:object_r:bin_t:s0\0'],
        ]),
        member({ name: 'ignored' }),
      ),
    );
    t.same(Buffer.from(m.entry.path, 'latin1'), path);
    t.same(m.entry.xattrs.get('security.capability'), cap);
    t.same(m.entry.xattrs.get('user.with=equals%'), Buffer.from([0, 0xff]));
    t.same(m.entry.xattrs.get('security.selinux'), Buffer.from('system_u:object_r:bin_t:s0\0'), 'the reader keeps all');
  });
  t.test('LIBARCHIVE.xattr: URL-encoded name, base64 value', async (t) => {
    const [m] = await read(
      tarball(
        paxMember({
          'LIBARCHIVE.xattr.user.a%20b%3D%FF': Buffer.from([0xff, 0xfe, 0, 1]).toString('base64'),
          'LIBARCHIVE.xattr.user.unpadded': 'aGVsbG8',
        }),
        member({ name: 'f' }),
      ),
    );
    t.same(m.entry.xattrs.get('user.a b=\xff'), Buffer.from([0xff, 0xfe, 0, 1]));
    t.same(m.entry.xattrs.get('user.unpadded'), Buffer.from('hello'));
  });
  t.test('global headers apply to following entries; local ones win; empty cancels', async (t) => {
    const members = await read(
      tarball(
        member({ name: 'before', uname: 'u0' }),
        paxMember({ uname: 'global', mtime: '100.25', 'SCHILY.xattr.user.g': 'G', path: 'not-applied', comment: 'c' }, { global: true }),
        member({ name: 'one', uname: 'u1' }),
        paxMember({ uname: 'local', 'SCHILY.xattr.user.g': '' }),
        member({ name: 'two', uname: 'u2' }),
        paxMember({ uname: '' }, { global: true }),
        member({ name: 'three', uname: 'u3' }),
      ),
    );
    t.match(members.map((m) => [m.entry.path, m.entry.uname]), [
      ['before', 'u0'],
      ['one', 'global'],
      ['two', 'local'],
      ['three', 'u3'],
    ]);
    t.same(members[1].entry.mtime, { sec: 100, nsec: 250000000 });
    t.same(members[1].entry.xattrs.get('user.g'), Buffer.from('G'));
    t.equal(members[2].entry.xattrs.size, 0, 'an empty local value cancels the global xattr');
    t.same(members[3].entry.mtime, { sec: 100, nsec: 250000000 }, 'globals persist');
  });
  t.test('malformed records name the entry', async (t) => {
    const bad = (body: string) => tarball(member({ name: 'PaxHeaders/victim', typeflag: 'x' }, body), member({ name: 'victim' }));
    await t.rejects(read(bad('12 path=abcX')), { code: 'TAR', message: /extended header "PaxHeaders\/victim".*newline/ });
    await t.rejects(read(bad('99 path=abc\n')), { code: 'TAR', message: /claims 99 bytes/ });
    await t.rejects(read(bad('x path=abc\n')), { code: 'TAR', message: /does not start with/ });
    await t.rejects(read(bad('10 pathab\n')), { code: 'TAR', message: /keyword=value/ });
    await t.rejects(read(bad('11 uid=-12\n')), { code: 'TAR', message: /entry "victim".*"uid" is not a valid number/ });
    await t.rejects(read(bad('15 mtime=12e10\n')), { code: 'TAR', message: /entry "victim".*"mtime" is not a valid time/ });
    await t.rejects(read(bad('35 LIBARCHIVE.xattr.user.x=not*b64\n')), { code: 'TAR', message: /not base64/ });
  });
});

t.test('every type flag', async (t) => {
  const members = await read(
    tarball(
      member({ name: 'old-file', typeflag: '\0' }, 'o'),
      member({ name: 'old-dir/', typeflag: '\0', format: 'v7' }),
      member({ name: 'contiguous', typeflag: '7' }, 'c'),
      member({ name: 'hard', typeflag: '1', linkname: 'old-file' }),
      member({ name: 'hard-with-data', typeflag: '1', linkname: 'old-file' }, 'pax hard link data'),
      member({ name: 'sym', typeflag: '2', linkname: '/abs/dangling' }),
      member({ name: 'null', typeflag: '3', devmajor: 1, devminor: 3 }),
      member({ name: 'sda', typeflag: '4', devmajor: 8, devminor: 0 }),
      member({ name: 'dir/', typeflag: '5', mode: 0o41777, size: 4096 }),
      member({ name: 'fifo', typeflag: '6' }),
      member({ name: 'dumpdir/', typeflag: 'D', format: 'gnu' }, 'Yfile\0Nother\0\0'),
      member({ name: 'label', typeflag: 'V', format: 'gnu' }, 'volume label data'),
      member({ name: 'setuid', mode: 0o104755 }),
    ),
  );
  t.same(
    members.map((m) => [m.entry.path, m.entry.type, m.entry.size, m.data.toString()]),
    [
      ['old-file', 'file', 1, 'o'],
      ['old-dir/', 'dir', 0, ''],
      ['contiguous', 'file', 1, 'c'],
      ['hard', 'hardlink', 0, ''],
      ['hard-with-data', 'hardlink', 0, ''],
      ['sym', 'symlink', 0, ''],
      ['null', 'char', 0, ''],
      ['sda', 'block', 0, ''],
      ['dir/', 'dir', 0, ''],
      ['fifo', 'fifo', 0, ''],
      ['dumpdir/', 'dir', 0, ''],
      ['setuid', 'file', 0, ''],
    ],
    'types; a V label is skipped; a dir size field carries no data',
  );
  t.equal(members[1].entry.linkname, '');
  t.equal(members[5].entry.linkname, '/abs/dangling');
  t.same([members[6].entry.devMajor, members[6].entry.devMinor], [1, 3]);
  t.same([members[7].entry.devMajor, members[7].entry.devMinor], [8, 0]);
  t.equal(members[8].entry.mode, 0o1777, 'sticky kept, type bits dropped');
  t.equal(members[11].entry.mode, 0o4755, 'setuid kept');
  for (const flag of ['Q', 'M', 'N']) {
    await t.rejects(read(tarball(member({ name: `weird-${flag}`, typeflag: flag }))), {
      code: 'TAR',
      message: new RegExp(`entry "weird-${flag}".*type '${flag}', which infra.operator cannot read`),
    });
  }
});

t.test('header checksums', async (t) => {
  const highName = Buffer.from([0xe4, 0xf6, 0xfc, 0xff]);
  const [signed] = await read(tarball(member({ name: highName, signedChecksum: true }, 'ok')));
  t.same(Buffer.from(signed.entry.path, 'latin1'), highName, 'signed checksum accepted');
  await t.rejects(read(tarball(member({ name: 'corrupted', checksum: 1234 }, 'x'))), {
    code: 'TAR',
    message: /entry "corrupted" \(header at byte 0\) has a bad header checksum.*damaged or truncated/,
  });
  const flipped = tarball(member({ name: 'a' }, 'a'), member({ name: 'b' }, 'b'));
  flipped[1024 + 100] ^= 1; // a mode bit of the second header
  await t.rejects(read(flipped), { code: 'TAR', message: /entry "b" \(header at byte 1024\).*checksum/ });
});

t.test('truncation', async (t) => {
  const whole = tarball(member({ name: 'a' }, 'x'.repeat(1000)), member({ name: 'b' }, 'y'.repeat(10)));
  await t.rejects(read(whole.subarray(0, 300)), { code: 'TAR', message: /ends inside a header at byte 0 \(300 of 512/ });
  await t.rejects(read(whole.subarray(0, 512 + 700)), {
    code: 'TAR',
    message: /the entry "a" claims 1000 bytes but the archive ends after 700.*damaged or truncated/,
  });
  await t.rejects(read(whole.subarray(0, 512 + 1010)), { code: 'TAR', message: /padding after entry "a"/ });
  await t.rejects(read(whole.subarray(0, 2560 + 100)), { code: 'TAR', message: /ends inside a header at byte 2560/ });
  await t.rejects(read(paxMember({ path: 'x' }).subarray(0, 517)), {
    code: 'TAR',
    message: /extended header "PaxHeaders\/entry" claims 9 bytes but the archive ends after 5/,
  });
  await t.rejects(read(paxMember({ path: 'x' }).subarray(0, 530)), { code: 'TAR', message: /padding after the extended header/ });
});

/** A source that records how far it was read and whether it was closed early. */
function tracked(data: Buffer, chunkSize: number) {
  const state = { delivered: 0, returned: false };
  const source = {
    async *[Symbol.asyncIterator]() {
      try {
        for (let i = 0; i < data.length; i += chunkSize) {
          const chunk = data.subarray(i, i + chunkSize);
          state.delivered += chunk.length;
          yield chunk;
        }
      } finally {
        state.returned = state.delivered < data.length;
      }
    },
  };
  return { source, state };
}

t.test('end of archive', async (t) => {
  const entries = Buffer.concat([member({ name: 'a' }, 'A'), member({ name: 'b' }, 'B')]);
  const names = async (tar: Buffer) => (await read(tar)).map((m) => m.entry.path);
  t.same(await names(entries), ['a', 'b'], 'EOF at a header boundary is accepted (as GNU tar does)');
  t.same(await names(Buffer.concat([entries, Buffer.alloc(512)])), ['a', 'b'], 'one zero block then EOF');
  const afterLoneZero = Buffer.concat([entries, Buffer.alloc(512), member({ name: 'c' }, 'C')]);
  t.same(await names(afterLoneZero), ['a', 'b'], 'a zero block ends the archive, as in GNU tar');
  const garbage = Buffer.concat([tarball(entries), Buffer.alloc(10240 - 2048), Buffer.from('trailing garbage \xff')]);
  const { source, state } = tracked(garbage, 1000);
  t.same((await readAll(readTar(source))).map((m) => m.entry.path), ['a', 'b']);
  t.equal(state.delivered, garbage.length, 'everything after the end was read (drained)');
  t.same(await names(Buffer.alloc(0)), [], 'an empty stream is an empty archive');
});

t.test('chunk boundaries, skipping and zero-copy bodies', async (t) => {
  const data = Buffer.alloc(5000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  const tar = buildLayer([
    { path: 'one', data },
    { path: 'x'.repeat(120), data: data.subarray(0, 513), xattrs: { 'user.a': Buffer.from([0xff]) } },
    { path: 'empty', data: '' },
    { path: 'd/' },
    { path: 'two', data: data.subarray(0, 512) },
  ]);
  const expected = await read(tar, tar.length);
  t.equal(expected.length, 5);
  for (const size of [1, 7, 511, 512, 513, 4096, 65536]) {
    const got = await read(tar, size);
    t.same(
      got.map((m) => [m.entry, m.data]),
      expected.map((m) => [m.entry, m.data]),
      `chunks of ${size}`,
    );
  }
  // Skip every body, or read a part of it: the next headers are found all the same.
  const skipped: string[] = [];
  for await (const { entry, body } of readTar(chunked(tar, 700))) {
    skipped.push(entry.path);
    if (entry.path === 'one') {
      for await (const piece of body) {
        t.ok(piece.length > 0);
        break;
      }
    }
  }
  t.same(skipped, expected.map((m) => m.entry.path), 'unread and half-read bodies are skipped');
  const chunk = tar.subarray(0);
  for await (const { entry, body } of readTar(chunked(chunk, chunk.length))) {
    for await (const piece of body) {
      t.equal(piece.buffer, chunk.buffer, `${entry.path.slice(0, 5)}: body is a view of the input`);
    }
  }
});

t.test('the reader stops the source when the consumer stops', async (t) => {
  const { source, state } = tracked(buildLayer([{ path: 'a', data: 'A' }, { path: 'b', data: 'B' }, { path: 'c', data: Buffer.alloc(100000) }]), 512);
  for await (const { entry } of readTar(source)) {
    if (entry.path === 'b') break;
  }
  t.ok(state.returned, 'source closed early');
});

t.test('a body is read once, and only while its entry is current', async (t) => {
  const tar = buildLayer([{ path: 'a', data: 'A' }, { path: 'b', data: 'B' }]);
  const members = readTar(chunked(tar));
  const first = await members.next();
  if (first.done) return t.fail('no member');
  for await (const _ of first.value.body) void _;
  await t.rejects(
    (async () => {
      for await (const _ of first.value.body) void _;
    })(),
    /can be read only once/,
  );
  const tar2 = buildLayer([{ path: 'a', data: 'A' }, { path: 'b', data: 'B' }]);
  const members2 = readTar(chunked(tar2));
  const a = await members2.next();
  await members2.next();
  if (a.done) return t.fail('no member');
  await t.rejects(
    (async () => {
      for await (const _ of a.value.body) void _;
    })(),
    /was read after the next entry was requested/,
  );
  await members.return(undefined);
  await members2.return(undefined);
});

t.test('sparse members (hand-built)', async (t) => {
  t.test('old GNU type S with extension blocks', async (t) => {
    const regions: Array<[number, number]> = Array.from({ length: 30 }, (_, i) => [i * 10000, 3]);
    const data = Buffer.from('abc'.repeat(30));
    const tar = tarball(
      header({ name: 'sparse', typeflag: 'S', format: 'gnu', size: data.length, sparse: regions.slice(0, 4), sparseIsExtended: true, realsize: 300000 }),
      sparseExtension(regions.slice(4, 25), true),
      sparseExtension(regions.slice(25), false),
      data,
      Buffer.alloc(512 - data.length),
      member({ name: 'next' }, 'n'),
    );
    const [m, next] = await read(tar, 100);
    t.equal(m.entry.size, 300000);
    t.same(m.entry.sparse, regions.map(([offset, length]) => ({ offset, length })));
    t.same(m.data, data);
    t.equal(next.entry.path, 'next');
  });
  t.test('PAX 1.0: the map at the start of the data', async (t) => {
    const map = Buffer.alloc(512);
    map.write('2\n0\n4\n1000\n2\n');
    const data = Buffer.from('headtl');
    const tar = tarball(
      paxMember({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'real/name', 'GNU.sparse.realsize': '2000' }),
      member({ name: 'GNUSparseFile.1/name' }, Buffer.concat([map, data])),
    );
    const [m] = await read(tar, 13);
    t.match(m.entry, { path: 'real/name', size: 2000, sparse: [{ offset: 0, length: 4 }, { offset: 1000, length: 2 }] });
    t.same(m.data, data);
  });
  t.test('inconsistent maps are errors', async (t) => {
    const pax01 = (map: string, stored: string) =>
      tarball(paxMember({ 'GNU.sparse.map': map, 'GNU.sparse.size': '100' }), member({ name: 'sp' }, stored));
    await t.rejects(read(pax01('0,4,50,4', 'abc')), { code: 'TAR', message: /entry "sp".*covering 8 bytes but stores 3/ });
    await t.rejects(read(pax01('50,4,0,4', 'abcdefgh')), { code: 'TAR', message: /out of order/ });
    await t.rejects(read(pax01('98,8', 'abcdefgh')), { code: 'TAR', message: /past its size 100/ });
    await t.rejects(read(pax01('0,4,9', 'abcd')), { code: 'TAR', message: /odd number/ });
    const noSize = tarball(paxMember({ 'GNU.sparse.map': '0,1' }), member({ name: 'sp' }, 'a'));
    await t.rejects(read(noSize), { code: 'TAR', message: /without its real size/ });
  });
});
