// The image machinery's pure parts: references, platform choice, the config's rules, users, challenges; and the
// whiteout conversion on a real folder (root: device nodes and trusted.* attributes).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { getxattr } from '../lib/libc.ts'
import { parseImageCommand } from '../lib/oci/cli.ts'
import { parseRunArgs } from '../lib/cli.ts'
import type { ImageIndex } from '../lib/oci/documents.ts'
import { chooseManifest, convertWhiteouts, processSpec } from '../engine/all-steps/image.ts'
import { resolveUser } from '../lib/oci/user.ts'
import { formatReference, familiarReference, mayUsePlainHttp, parseReference } from '../lib/oci/reference.ts'
import { parseChallenge } from '../lib/oci/registry.ts'
import { digestHex } from '../lib/oci/store.ts'
import { decompressorFor, unpackLayer } from '../lib/oci/unpack.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

const D = `sha256:${'ab'.repeat(32)}`

describe('image references (docker\'s defaults)', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest', 'alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20', 'alpine:3.20'],
    ['library/alpine', 'docker.io/library/alpine:latest', 'alpine:latest'],
    ['docker.io/alpine:3', 'docker.io/library/alpine:3', 'alpine:3'],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine:latest', 'alpine:latest'],
    ['bitnami/redis:7.2', 'docker.io/bitnami/redis:7.2', 'bitnami/redis:7.2'],
    ['ghcr.io/owner/app', 'ghcr.io/owner/app:latest', 'ghcr.io/owner/app:latest'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
    ['localhost:5000/a/b/c:v1.2-rc_3', 'localhost:5000/a/b/c:v1.2-rc_3', 'localhost:5000/a/b/c:v1.2-rc_3'],
    [`127.0.0.1:5000/test/alpine@${D}`, `127.0.0.1:5000/test/alpine@${D}`, `127.0.0.1:5000/test/alpine@${D}`],
    [`alpine:3.20@${D}`, `docker.io/library/alpine:3.20@${D}`, `alpine:3.20@${D}`],
    ['my-registry.example.com:443/x__y/z.w', 'my-registry.example.com:443/x__y/z.w:latest', 'my-registry.example.com:443/x__y/z.w:latest'],
  ])('%s -> %s', (text, full, familiar) => {
    const ref = parseReference(text)
    expect(formatReference(ref)).toBe(full)
    expect(familiarReference(ref)).toBe(familiar)
  })

  it.each([
    ['', /empty/],
    ['Alpine', /lowercase/],
    ['alpine:', /not a tag/],
    ['alpine:-x', /not a tag/],
    ['alpine@sha256:abc', /not a digest/],
    [`alpine@md5:${'a'.repeat(32)}`, /not a digest/],
    ['a//b', /empty name/],
    ['registry.example.com/', /empty name/],
    ['a/b_-c', /lowercase letters/],
  ])('refuses %j', (text, why) => {
    expect(() => parseReference(text)).toThrow(why)
  })

  it('plain HTTP only on this machine, or for a registry named insecure', () => {
    for (const r of ['127.0.0.1:5000', '127.9.8.7', 'localhost:5000', 'localhost', '[::1]:5000']) expect(mayUsePlainHttp(r), r).toBe(true)
    for (const r of ['registry.example.com', '10.0.0.5:5000', '128.0.0.1:5000', 'localhost.example.com', 'docker.io']) {
      expect(mayUsePlainHttp(r), r).toBe(false)
    }
    expect(mayUsePlainHttp('10.0.0.5:5000', ['10.0.0.5:5000'])).toBe(true)
    expect(mayUsePlainHttp('10.0.0.5:5000', ['10.0.0.5'])).toBe(true)
    expect(mayUsePlainHttp('10.0.0.5:5000', ['10.0.0.6'])).toBe(false)
  })

  it('digests become file names only when they are sha256 and 64 hex digits', () => {
    expect(digestHex(D)).toBe('ab'.repeat(32))
    for (const bad of ['sha256:../../etc/passwd', `sha512:${'a'.repeat(128)}`, `sha256:${'A'.repeat(64)}`, 'sha256:']) expect(() => digestHex(bad)).toThrow(/unsupported digest/)
  })
})

describe('the image commands', () => {
  it('pull, images, rmi', () => {
    expect(parseImageCommand(['pull', 'alpine:3.20'])).toEqual({ kind: 'pull', image: 'alpine:3.20', insecureRegistries: [] })
    expect(parseImageCommand(['pull', '--insecure-registry', '10.0.0.5:5000', '--insecure-registry=reg.lan', '10.0.0.5:5000/a'])).toEqual({ kind: 'pull', image: '10.0.0.5:5000/a', insecureRegistries: ['10.0.0.5:5000', 'reg.lan'] })
    expect(parseImageCommand(['images'])).toEqual({ kind: 'images' })
    expect(parseImageCommand(['rmi', 'a', 'b:1'])).toEqual({ kind: 'rmi', images: ['a', 'b:1'] })
  })
  it.each([
    [['pull'], /which image/],
    [['pull', 'a', 'b'], /one image, got 2/],
    [['pull', '--insecure-registry'], /--insecure-registry needs a value/],
    [['pull', '--quiet', 'a'], /unknown option --quiet/],
    [['pull', 'UPPER'], /invalid image reference/],
    [['images', 'x'], /unexpected argument x/],
    [['rmi'], /which image/],
  ])('refuses %j', (argv, why) => {
    expect(() => parseImageCommand(argv)).toThrow(why)
  })
})

describe('run IMAGE [--] [CMD] next to run [--] CMD (step 09)', () => {
  const parsed = (...argv: string[]) => {
    const o = parseRunArgs(['run', ...argv])
    return { image: o.image, command: o.command }
  }
  it('a tag, a digest or a registry makes the first word an image; the rest (after an optional --) is the command', () => {
    expect(parsed('alpine:3.20', 'sh')).toEqual({ image: 'alpine:3.20', command: ['sh'] })
    expect(parsed('alpine:3.20')).toEqual({ image: 'alpine:3.20', command: [] })
    expect(parsed('--hostname', 'h', '127.0.0.1:5000/test/alpine', '--', 'sh', '-c', 'x')).toEqual({ image: '127.0.0.1:5000/test/alpine', command: ['sh', '-c', 'x'] })
    expect(parsed(`alpine@${D}`, 'ls', '--', '-l')).toEqual({ image: `alpine@${D}`, command: ['ls', '--', '-l'] })
    expect(parsed('localhost/app')).toEqual({ image: 'localhost/app', command: [] })
  })
  it('a command as in every step before: after --, with --rootfs, a path, or a bare name that is no pulled image', () => {
    expect(parsed('--', 'alpine:3.20')).toEqual({ image: undefined, command: ['alpine:3.20'] })
    expect(parsed('--rootfs', '/tmp/r', 'alpine:3.20')).toEqual({ image: undefined, command: ['alpine:3.20'] })
    expect(parsed('/bin/sh', '-c', 'x')).toEqual({ image: undefined, command: ['/bin/sh', '-c', 'x'] })
    expect(parsed('hostname')).toEqual({ image: undefined, command: ['hostname'] })
    expect(parsed('./a.out')).toEqual({ image: undefined, command: ['./a.out'] })
    expect(() => parsed('--')).toThrow(/no command given/)
  })
  it('--insecure-registry HOST, repeatable', () => {
    const args = parseRunArgs(['run', '--insecure-registry', 'reg.lan:5000', '--insecure-registry=10.0.0.5', 'reg.lan:5000/a', 'sh'])
    expect(args.insecureRegistries).toEqual(['reg.lan:5000', '10.0.0.5'])
  })
})

describe('the token challenge', () => {
  it('reads Docker Hub\'s header', () => {
    const c = parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')
    expect(c).toEqual({ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } })
  })
  it('reads unquoted values and escapes', () => {
    expect(parseChallenge('Bearer realm=https://x/t, service="a\\"b"').params).toEqual({ realm: 'https://x/t', service: 'a"b' })
    expect(parseChallenge('Basic realm="Registry"').scheme).toBe('basic')
  })
})

describe('choosing the manifest of this platform', () => {
  const m = (architecture: string, variant?: string, mediaType = 'application/vnd.oci.image.manifest.v1+json') =>
    ({ mediaType, digest: `sha256:${architecture.padEnd(64, '0').slice(0, 64).replace(/[^0-9a-f]/g, 'e')}`, size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } })
  const index: ImageIndex = { schemaVersion: 2, manifests: [m('arm', 'v7'), m('arm64', 'v8'), m('amd64'), m('s390x')] }

  it('takes the one for the machine, not the first', () => {
    expect(chooseManifest(index, { os: 'linux', architecture: 'amd64' })).toBe(index.manifests[2])
    expect(chooseManifest(index, { os: 'linux', architecture: 'arm64' })).toBe(index.manifests[1])
  })
  it('skips attestations and other artifacts listed in the index', () => {
    const withAttestation: ImageIndex = {
      schemaVersion: 2,
      manifests: [{ ...m('amd64'), mediaType: 'application/vnd.in-toto+json' }, m('amd64')],
    }
    expect(chooseManifest(withAttestation, { os: 'linux', architecture: 'amd64' })).toBe(withAttestation.manifests[1])
  })
  it('names the platforms there are when none fits', () => {
    expect(() => chooseManifest({ schemaVersion: 2, manifests: [m('arm', 'v7'), m('s390x')] }, { os: 'linux', architecture: 'amd64' }))
      .toThrow('no manifest for linux/amd64 (it has: linux/arm/v7, linux/s390x)')
  })
})

describe('the image config applied (docker\'s rules)', () => {
  const defaults = { PATH: '/bin', HOME: '/root', HOSTNAME: 'h' }
  it('Cmd when no command is given, Entrypoint in front of either', () => {
    expect(processSpec({ config: { Cmd: ['/bin/sh'] } }, [], defaults).command).toEqual(['/bin/sh'])
    expect(processSpec({ config: { Cmd: ['/bin/sh'] } }, ['ls', '-l'], defaults).command).toEqual(['ls', '-l'])
    expect(processSpec({ config: { Entrypoint: ['/init'], Cmd: ['--serve'] } }, [], defaults).command).toEqual(['/init', '--serve'])
    expect(processSpec({ config: { Entrypoint: ['/init'], Cmd: ['--serve'] } }, ['--help'], defaults).command).toEqual(['/init', '--help'])
    expect(() => processSpec({ config: {} }, [], defaults)).toThrow(/neither Entrypoint nor Cmd/)
    expect(() => processSpec({ config: { Cmd: null, Entrypoint: null } }, [], defaults)).toThrow(/neither Entrypoint nor Cmd/)
  })
  it('the image\'s Env over the defaults; WorkingDir, User', () => {
    const spec = processSpec(
      { config: { Cmd: ['x'], Env: ['PATH=/usr/bin', 'A=b=c', 'EMPTY='], WorkingDir: '/srv', User: 'nobody' } },
      [],
      defaults,
    )
    expect(spec.env).toEqual({ PATH: '/usr/bin', HOME: '/root', HOSTNAME: 'h', A: 'b=c', EMPTY: '' })
    expect(spec.workingDir).toBe('/srv')
    expect(spec.user).toBe('nobody')
    expect(processSpec({ config: { Cmd: ['x'] } }, [], defaults).workingDir).toBe('/')
  })
})

describe('the image\'s User', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\napp:x:1000:1000::/home/app:/bin/sh\n'
  const group = 'root:x:0:root\nwheel:x:10:root,app\nnogroup:x:65534:\napp:x:1000:\naudio:x:18:app\n'
  it.each([
    ['', { uid: 0, gid: 0, groups: [0, 10], home: '/root' }],
    ['app', { uid: 1000, gid: 1000, groups: [1000, 10, 18], home: '/home/app' }],
    ['1000', { uid: 1000, gid: 1000, groups: [1000, 10, 18], home: '/home/app' }],
    ['app:wheel', { uid: 1000, gid: 10, groups: [10, 18], home: '/home/app' }],
    ['nobody:1234', { uid: 65534, gid: 1234, groups: [1234], home: '/' }],
    ['4242', { uid: 4242, gid: 0, groups: [0], home: undefined }],
    ['4242:4343', { uid: 4242, gid: 4343, groups: [4343], home: undefined }],
  ])('%j', (user, expected) => {
    expect(resolveUser(user, passwd, group)).toEqual(expected)
  })
  it('an unknown name is an error; a missing /etc/passwd allows numbers only', () => {
    expect(() => resolveUser('ghost', passwd, group)).toThrow(/not in its \/etc\/passwd/)
    expect(() => resolveUser('app:ghosts', passwd, group)).toThrow(/not in its \/etc\/group/)
    expect(resolveUser('7:8', undefined, undefined)).toEqual({ uid: 7, gid: 8, groups: [8], home: undefined })
    expect(() => resolveUser('app', undefined, undefined)).toThrow(/not in its/)
  })
})

describe.skipIf(skipUnlessRootOnLinux())('whiteouts: OCI\'s files become overlayfs\' own', () => {
  let dir: string | undefined
  afterEach(() => dir && fs.rmSync(dir, { recursive: true, force: true }))

  it('.wh.NAME -> a 0/0 character device; .wh..wh..opq -> trusted.overlay.opaque=y; a folder deleted and re-made -> opaque', () => {
    dir = fs.mkdtempSync(path.join('/var/tmp', 'mc-whiteouts-'))
    const files: Record<string, string> = {
      'etc/.wh.motd': '', 'etc/keep': 'k', 'var/cache/.wh..wh..opq': '', 'var/cache/new': 'n',
      '.wh.top': '', 'a/b/c/.wh.deep': '', 'again/.wh.dir': '', 'again/dir/inside': 'i', 'again/.wh.file': '', 'again/file': 'f',
    }
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true })
      fs.writeFileSync(path.join(dir, rel), content)
    }
    convertWhiteouts(dir)
    for (const gone of ['etc/motd', 'top', 'a/b/c/deep']) {
      const st = fs.lstatSync(path.join(dir, gone))
      expect(st.isCharacterDevice() && st.rdev === 0, gone).toBe(true)
    }
    const left = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    expect(left.filter((n) => path.basename(n).startsWith('.wh.'))).toEqual([])
    expect(getxattr(path.join(dir, 'var/cache'), 'trusted.overlay.opaque')).toBe('y')
    expect(fs.readdirSync(path.join(dir, 'var/cache'))).toEqual(['new'])
    expect(getxattr(path.join(dir, 'etc'), 'trusted.overlay.opaque')).toBeUndefined()
    // Deleted and made again in the same layer: the new one stays; the folder hides the old one's contents.
    expect(getxattr(path.join(dir, 'again/dir'), 'trusted.overlay.opaque')).toBe('y')
    expect(fs.readFileSync(path.join(dir, 'again/file'), 'utf8')).toBe('f')
  })

  it('unpacking hashes every byte of the tar (its diff_id), also the padding tar itself never reads', async () => {
    dir = fs.mkdtempSync(path.join('/var/tmp', 'mc-unpack-'))
    fs.mkdirSync(path.join(dir, 'src/etc'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'src/etc/hello'), 'hello\n')
    const tar = Buffer.concat([execFileSync('tar', ['-C', path.join(dir, 'src'), '-cf', '-', '.']), Buffer.alloc(1024 * 1024)])
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`
    const cases: [string, Buffer][] = [
      ['application/vnd.oci.image.layer.v1.tar', tar],
      ['application/vnd.oci.image.layer.v1.tar+gzip', zlib.gzipSync(tar)],
      ['application/vnd.docker.image.rootfs.diff.tar.gzip', zlib.gzipSync(tar)],
      ['application/vnd.oci.image.layer.v1.tar+zstd', zlib.zstdCompressSync(tar)],
    ]
    for (const [mediaType, blob] of cases) {
      const into = fs.mkdtempSync(path.join(dir, 'into-'))
      fs.writeFileSync(path.join(dir, 'blob'), blob)
      expect(await unpackLayer(path.join(dir, 'blob'), mediaType, into), mediaType).toEqual({ diffId, bytes: tar.length })
      expect(fs.readFileSync(path.join(into, 'etc/hello'), 'utf8')).toBe('hello\n')
    }
    fs.writeFileSync(path.join(dir, 'blob'), zlib.gzipSync(Buffer.from('not a tar at all'.repeat(100))))
    await expect(unpackLayer(path.join(dir, 'blob'), 'application/vnd.oci.image.layer.v1.tar+gzip', fs.mkdtempSync(path.join(dir, 'bad-')))).rejects.toThrow(/could not unpack the layer .*tar: /)
    expect(() => decompressorFor('application/vnd.oci.image.layer.v1.tar+lz4')).toThrow(/unsupported layer media type/)
  })

  it('a hostile layer is refused: nothing written through its symlinks, nothing outside with ..', async () => {
    dir = fs.mkdtempSync(path.join('/var/tmp', 'mc-hostile-'))
    const outside = path.join(dir, 'outside')
    for (const d of ['outside', 'links', 'files/evil', 'up/sub']) fs.mkdirSync(path.join(dir, d), { recursive: true })
    fs.symlinkSync(outside, path.join(dir, 'links/evil'))
    fs.writeFileSync(path.join(dir, 'files/evil/pwned'), 'pwned')
    fs.writeFileSync(path.join(dir, 'up/escape'), 'escaped')
    // Three archives in one: 512-byte records, each one's end marker (two zero blocks) cut off but the last one's.
    const part = (args: string[]) => execFileSync('tar', ['-b1', '-cf', '-', ...args])
    const tar = Buffer.concat([
      part(['-C', path.join(dir, 'links'), 'evil']).subarray(0, -1024),
      part(['-C', path.join(dir, 'files'), 'evil/pwned']).subarray(0, -1024),
      part(['-C', path.join(dir, 'up/sub'), '-P', '../escape']),
    ])
    fs.writeFileSync(path.join(dir, 'blob'), tar)
    const into = path.join(dir, 'into/deeper')
    fs.mkdirSync(into, { recursive: true })
    await expect(unpackLayer(path.join(dir, 'blob'), 'application/vnd.oci.image.layer.v1.tar', into)).rejects.toThrow(/could not unpack the layer/)
    expect(fs.readdirSync(outside)).toEqual([])
    expect(fs.existsSync(path.join(dir, 'into/escape'))).toBe(false)
  })
})
