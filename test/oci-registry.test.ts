// Pulling from a REAL registry on 127.0.0.1 (Debian's docker-registry, token auth), the image pushed by skopeo:
// Alpine in two layers, the second deleting a file and emptying a folder (whiteouts), in OCI's and Docker's
// formats. Everything is on loopback; the registry and its data are removed after the suite, also on failure.
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getxattr } from '../lib/libc.ts'
import { formatImages, removeImages } from '../lib/oci/cli.ts'
import type { Platform } from '../lib/oci/documents.ts'
import { pull as pullImage } from '../engine/all-steps/image.ts'
import { ImageStore } from '../lib/oci/store.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { startRegistry, whyNoLocalRegistry, type LocalRegistry } from '../checker/registry/registry.ts'
import { buildTestImage, pushImage, type BuiltImage, type TestImageSpec } from '../checker/registry/test-image.ts'
import { testTarball } from './helpers/alpine.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

function skipUnlessRegistry(): boolean {
  const why = whyNoLocalRegistry()
  if (!why) return false
  if (process.env.CI === 'true') throw new Error(`CI=true but the registry tests cannot run: ${why}`)
  console.warn(`skipping the registry tests: ${why}`)
  return true
}

/** The tests' Alpine tarball (test/global-setup.ts), the base layer of every test image. */
let fixture: string
/** Its platform (x86_64 -> amd64): the image is built for it, and pulled for it. */
let platform: Platform
const token = () => randomBytes(4).toString('hex')

function specFor(base: TestImageSpec['base'], extra: Partial<TestImageSpec> = {}): TestImageSpec {
  return {
    base,
    architecture: platform.architecture as 'amd64' | 'arm64',
    deleted: 'etc/motd',
    opaqueDir: 'etc/apk/keys',
    opaqueFile: [`key-${token()}`, 'not a key\n'],
    replaced: ['etc/issue', `replaced ${token()}\n`],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `MC_TOKEN=${token()}`],
    workingDir: `srv/app-${token()}`,
    cmd: ['/bin/sh'],
    ...extra,
  }
}

const sha256File = (file: string) => `sha256:${createHash('sha256').update(fs.readFileSync(file)).digest('hex')}`
const listDir = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [])

describe.skipIf(skipUnlessRootOnLinux() || skipUnlessRegistry())('pulling from a real registry on 127.0.0.1', () => {
  let registry: LocalRegistry
  let image: BuiltImage
  let work: string
  let storeCount = 0
  const newStore = () => new ImageStore(path.join(work, `store-${++storeCount}`))
  const ref = (name: string) => `${registry.host}/${name}`

  beforeAll(async () => {
    const tarball = testTarball()
    fixture = tarball.file
    platform = { os: 'linux', architecture: tarball.arch === 'aarch64' ? 'arm64' : 'amd64' }
    work = fs.mkdtempSync('/var/tmp/mc-oci-test-')
    registry = await startRegistry()
    image = await buildTestImage(specFor({ tarball: fixture }), path.join(work, 'layout'), '1')
    await pushImage(image, registry, 'test/alpine:1')
    await pushImage(image, registry, 'test/alpine:docker', { dockerFormat: true })
  })
  afterAll(async () => {
    await registry?.stop()
    if (work) fs.rmSync(work, { recursive: true, force: true })
    expect(fs.existsSync(registry.dir)).toBe(false)
  })

  let store: ImageStore
  it('a cold pull: the token flow, the manifest of this platform, every blob verified and stored under its digest', async () => {
    store = newStore()
    const tokensBefore = registry.tokens.requests.length
    const { record, downloadedBlobs, upToDate } = await pullImage(ref('test/alpine:1'), { store, platform, quiet: true })
    expect(upToDate).toBe(false)
    expect(downloadedBlobs).toBe(3) // config + 2 layers
    expect(record.digest).toBe(image.index.digest)
    expect(record.manifest).toBe(image.manifest.digest) // not the other platform's, listed first
    expect(record.config).toBe(image.config.digest)
    expect(record.layers.map((l) => [l.digest, l.diffId])).toEqual(image.layers.map((l) => [l.digest, l.diffId]))
    // Anonymous, pull only: the registry answered 401 first, then accepted the token.
    const asked = registry.tokens.requests.slice(tokensBefore)
    expect(asked).toContainEqual({ scopes: ['repository:test/alpine:pull'], authenticated: false, granted: ['repository:test/alpine:pull'] })
    const manifestRequests = registry.accessLog().filter((e) => e.path === '/v2/test/alpine/manifests/1').map((e) => e.status)
    expect(manifestRequests.slice(-2)).toEqual([401, 200])
    // Every stored blob is what its name says, and each was downloaded once.
    const blobs = listDir(path.join(store.root, 'blobs/sha256'))
    expect(blobs.sort()).toEqual([image.index, image.manifest, image.config, ...image.layers].map((d) => d.digest.slice(7)).sort())
    for (const hex of blobs) expect(sha256File(path.join(store.root, 'blobs/sha256', hex))).toBe(`sha256:${hex}`)
    const downloads = registry.blobRequests().map((e) => e.path.split('/').pop())
    for (const d of [image.config, ...image.layers]) expect(downloads.filter((x) => x === d.digest)).toHaveLength(1)
    expect(downloads).not.toContain(image.otherManifest.digest)
    expect(listDir(store.root).filter((n) => n.startsWith('.staging'))).toEqual([])
  })

  it('each layer unpacked once, its whiteouts turned into overlayfs\' own', () => {
    expect(listDir(path.join(store.root, 'layers'))).toEqual(image.layers.map((l) => l.diffId.slice(7)).sort())
    const top = store.layerFs(image.layers[1]!.diffId)
    const deleted = fs.lstatSync(path.join(top, image.spec.deleted))
    expect(deleted.isCharacterDevice() && deleted.rdev === 0).toBe(true)
    expect(getxattr(path.join(top, image.spec.opaqueDir), 'trusted.overlay.opaque')).toBe('y')
    expect(listDir(path.join(top, image.spec.opaqueDir))).toEqual([image.spec.opaqueFile[0]])
    for (const layer of image.layers) {
      const names = fs.readdirSync(store.layerFs(layer.diffId), { recursive: true, encoding: 'utf8' })
      expect(names.filter((n) => path.basename(n).startsWith('.wh.'))).toEqual([])
    }
    // The base layer is Alpine as it was: bin/busybox owned by root, setuid bits and all.
    const busybox = fs.lstatSync(path.join(store.layerFs(image.layers[0]!.diffId), 'bin/busybox'))
    expect([busybox.uid, busybox.gid, busybox.isFile()]).toEqual([0, 0, true])
  })

  it('a second pull downloads nothing', async () => {
    const before = registry.blobRequests().length
    const again = await pullImage(ref('test/alpine:1'), { store, platform, quiet: true })
    expect(again.upToDate).toBe(true)
    expect(again.downloadedBlobs).toBe(0)
    expect(registry.blobRequests().length).toBe(before)
  })

  it('Docker\'s media types (a manifest list, schema 2) work too, and share the layers already there', async () => {
    const before = registry.blobRequests().length
    const { record } = await pullImage(ref('test/alpine:docker'), { store, platform, quiet: true })
    expect(record.layers.map((l) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip'])
    expect(record.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest))
    expect(record.digest).not.toBe(image.index.digest) // its own manifest list
    expect(registry.blobRequests().length).toBe(before) // the same config and layers: nothing downloaded
    expect(listDir(path.join(store.root, 'layers'))).toHaveLength(2)
  })

  it('an overlay of the layers (top first) shows the image: the file deleted, the folder emptied, the file replaced', async () => {
    const record = store.readImage(ref('test/alpine:1'))!
    const merged = fs.mkdtempSync(path.join(work, 'merged-'))
    const { spec } = image
    // A private mount namespace of its own: the mount is gone with the process, whatever happens.
    const script = [
      `mount -t overlay overlay -o lowerdir=${record.layers.map((l) => store.layerFs(l.diffId)).reverse().join(':')} ${merged}`,
      `if [ -e ${merged}/${spec.deleted} ]; then echo deleted=visible; else echo deleted=gone; fi`,
      `echo opaque=$(ls -A ${merged}/${spec.opaqueDir})`,
      `echo replaced=$(cat ${merged}/${spec.replaced[0]})`,
      `echo workdir=$(test -d ${merged}/${spec.workingDir} && echo yes)`,
      `echo busybox=$(test -x ${merged}/bin/busybox && echo yes)`,
    ].join('; ')
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-ec', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let text = ''
      child.stdout.on('data', (c) => (text += c))
      child.stderr.on('data', (c) => (text += c))
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`unshare: ${code}: ${text}`))))
    })
    expect(out.trim().split('\n')).toEqual([
      'deleted=gone', `opaque=${spec.opaqueFile[0]}`, `replaced=${spec.replaced[1].trim()}`, 'workdir=yes', 'busybox=yes',
    ])
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(merged)
  })

  it('plain HTTP only on this machine: elsewhere it takes --insecure-registry (0.0.0.0 reaches the same registry over lo)', async () => {
    const port = registry.host.split(':')[1]
    const elsewhere = `0.0.0.0:${port}`
    await expect(pullImage(`${elsewhere}/test/alpine:1`, { store: newStore(), platform, quiet: true }))
      .rejects.toThrow(expect.objectContaining({ hint: expect.stringContaining(`--insecure-registry ${elsewhere}`) }))
    const { record } = await pullImage(`${elsewhere}/test/alpine:1`, { store: newStore(), platform, quiet: true, insecureRegistries: [elsewhere] })
    expect(record.manifest).toBe(image.manifest.digest)
  })

  it('another platform, when asked, gets the other manifest of the index', async () => {
    const other: Platform = { os: 'linux', architecture: platform.architecture === 'amd64' ? 'arm64' : 'amd64' }
    const { record } = await pullImage(ref('test/alpine:1'), { store: newStore(), platform: other, quiet: true })
    expect(record.manifest).toBe(image.otherManifest.digest)
  })

  it('a damaged blob is refused (a changed byte, bytes added), and nothing of it is stored', async () => {
    const broken = await buildTestImage(specFor({ tarball: fixture }), path.join(work, 'broken'), '1')
    await pushImage(broken, registry, 'test/broken:1')
    const top = broken.layers[1]!
    const file = registry.blobFile(top.digest)
    const original = fs.readFileSync(file)
    const cases: [string, Buffer, RegExp][] = [
      ['one byte changed', Buffer.from(original.map((b, i) => (i === original.length >> 1 ? b ^ 0xff : b))), /sha256 mismatch/],
      ['bytes added', Buffer.concat([original, Buffer.from('more')]), /more than the \d+ bytes/],
    ]
    try {
      for (const [what, content, error] of cases) {
        fs.writeFileSync(file, content)
        const damaged = newStore()
        await expect(pullImage(ref('test/broken:1'), { store: damaged, platform, quiet: true }), what).rejects.toThrow(error)
        expect(damaged.hasBlob(top.digest), what).toBe(false)
        expect(damaged.hasLayer(top.diffId), what).toBe(false)
        expect(damaged.listImages(), what).toEqual([])
        expect(listDir(damaged.root).filter((n) => n.startsWith('.staging')), what).toEqual([])
        expect(fs.existsSync(path.join(damaged.root, '.lock')), what).toBe(false)
      }
    } finally {
      fs.writeFileSync(file, original)
    }
  })

  it('images and rmi: a layer stays while any image uses it', async () => {
    const other = await buildTestImage(specFor({ tarball: fixture }), path.join(work, 'other'), '1')
    await pushImage(other, registry, 'test/other:1')
    await pullImage(ref('test/other:1'), { store, platform, quiet: true })
    const layers = () => listDir(path.join(store.root, 'layers'))
    const [base, top, otherTop] = [image.layers[0]!, image.layers[1]!, other.layers[1]!].map((l) => l.diffId.slice(7))
    expect(store.listImages().map((r) => r.reference)).toEqual([ref('test/alpine:1'), ref('test/alpine:docker'), ref('test/other:1')])
    expect(layers()).toEqual([base, top, otherTop].sort())
    const table = formatImages(store.listImages(), store).split('\n')
    expect(table[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+SIZE$/)
    expect(table[1]).toMatch(new RegExp(`^${ref('test/alpine')}\\s+1\\s+${image.config.digest.slice(7, 19)}\\s+\\d+\\.\\d MB$`))
    expect(table).toHaveLength(4)

    store.removeImage(ref('test/alpine:1'))
    expect(layers()).toEqual([base, top, otherTop].sort()) // :docker still has them
    expect(store.hasBlob(image.index.digest)).toBe(false) // the index only :1 had
    const { removedLayers } = store.removeImage(ref('test/alpine:docker'))
    expect(removedLayers).toEqual([image.layers[1]!.diffId])
    expect(layers()).toEqual([base, otherTop].sort()) // the base is other's too
    expect(await removeImages([ref('test/other:1')], store)).toContain(`Deleted layer: ${other.layers[0]!.diffId}`)
    expect(layers()).toEqual([])
    expect(listDir(path.join(store.root, 'blobs/sha256'))).toEqual([])
    expect(() => store.removeImage(ref('test/other:1'))).toThrow(/no such image/)
  })

  it('an image in use by a running container keeps its layers after rmi, until the container is gone', async () => {
    const inUse = newStore()
    const { record } = await pullImage(ref('test/alpine:1'), { store: inUse, platform, quiet: true })
    const unpin = inUse.pin(record)
    inUse.removeImage(ref('test/alpine:1'))
    expect(inUse.listImages()).toEqual([])
    for (const l of record.layers) expect(inUse.hasLayer(l.diffId)).toBe(true)
    unpin()
    inUse.collectGarbage()
    for (const l of record.layers) expect(inUse.hasLayer(l.diffId)).toBe(false)
  })

  it('a pull killed halfway leaves nothing that is taken for good; the next pull cleans up and finishes', async () => {
    const big = await buildTestImage(specFor({ tarball: fixture }, { paddingBytes: 64 * 1024 * 1024 }), path.join(work, 'big'), '1')
    await pushImage(big, registry, 'test/big:1')
    const killed = newStore()
    const bigLayer = big.layers[1]!
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'test/fixtures/oci-pull.ts'), killed.root, ref('test/big:1')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      if (stderr.includes(`${bigLayer.digest.slice(7, 19)}: Downloading`)) child.kill('SIGKILL')
    })
    const code = await ended
    expect(code, `the pull finished before it could be interrupted:\n${stderr}`).toBe(null)
    expect(killed.hasBlob(bigLayer.digest)).toBe(false)
    expect(killed.hasLayer(bigLayer.diffId)).toBe(false)
    expect(killed.listImages()).toEqual([])
    const leftovers = listDir(killed.root).filter((n) => n.startsWith(`.staging-${child.pid}-`))
    expect(leftovers.length).toBeGreaterThan(0) // what the kill left, under a name nobody trusts

    const { record } = await pullImage(ref('test/big:1'), { store: killed, platform, quiet: true })
    expect(record.layers.map((l) => l.digest)).toEqual(big.layers.map((l) => l.digest))
    expect(listDir(killed.root).filter((n) => n.startsWith('.staging'))).toEqual([])
    expect(fs.statSync(path.join(killed.layerFs(bigLayer.diffId), 'padding.bin')).size).toBe(64 * 1024 * 1024)
  })
})
