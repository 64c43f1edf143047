// The image the tests and the checker push to the local registry, built from the Alpine rootfs in two layers:
//
//   layer 1  Alpine itself (the minirootfs tarball as it is, or the installed rootfs folder packed with tar)
//   layer 2  deletes one file (an OCI whiteout `.wh.NAME`), empties one folder and puts one new file in it (an
//            opaque whiteout `.wh..wh..opq`), adds the working directory and a file that shadows one of Alpine's
//
// and a config with Env and WorkingDir (random values, so an engine cannot know them in advance). The image is an
// OCI image index with a manifest for this machine's platform and one for another platform whose single layer has
// no shell at all: an engine that does not choose by platform runs the wrong one. skopeo pushes it, as a real
// client would; nothing here speaks the registry protocol itself.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import zlib from 'node:zlib'
import type { LocalRegistry } from './registry.ts'

const run = promisify(execFile)

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const

export type Platform = 'amd64' | 'arm64'

export interface TestImageSpec {
  /** Layer 1: an Alpine minirootfs tarball (used as the blob as it is), or an unpacked rootfs folder. */
  base: { tarball: string } | { dir: string }
  /** The platform of the base (the machine's). */
  architecture: Platform
  /** A file of the base that layer 2 deletes, e.g. "etc/motd". */
  deleted: string
  /** A folder of the base whose contents layer 2 replaces by `opaqueFile` alone, e.g. "etc/apk/keys". */
  opaqueDir: string
  /** The one file in `opaqueDir` after layer 2: [name, content]. */
  opaqueFile: [string, string]
  /** A file of the base that layer 2 replaces: [path, new content]. */
  replaced: [string, string]
  env: string[]
  workingDir: string
  cmd?: string[]
  entrypoint?: string[]
  user?: string
  /** Random bytes added to layer 2 as /padding.bin, to make a pull slow enough to interrupt. */
  paddingBytes?: number
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string; os: string }
}

export interface BuiltImage {
  /** The OCI layout folder skopeo reads (oci:DIR:TAG). */
  layout: string
  tag: string
  index: Descriptor
  /** The manifest for `spec.architecture`, and its config and layers. */
  manifest: Descriptor
  config: Descriptor
  layers: (Descriptor & { diffId: string })[]
  /** The manifest of the other platform (an engine must not pick it). */
  otherManifest: Descriptor
  spec: TestImageSpec
}

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`

class Layout {
  readonly dir: string
  constructor(dir: string) {
    this.dir = dir
    fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  }
  add(mediaType: string, data: Buffer): Descriptor {
    const digest = sha256(data)
    fs.writeFileSync(path.join(this.dir, 'blobs/sha256', digest.slice(7)), data)
    return { mediaType, digest, size: data.length }
  }
  addJson(mediaType: string, value: unknown): Descriptor {
    return this.add(mediaType, Buffer.from(JSON.stringify(value)))
  }
}

/** A tar of a folder's contents, owned by root, sorted (so whiteouts come before their siblings, as layer.md asks). */
async function tarFolder(dir: string, exclude: string[] = []): Promise<Buffer> {
  // --xattrs makes it a pax archive, whose headers would carry each file's atime and ctime: reading the folder
  // changes the first (a fresh VM's rootfs), so two images of one base would differ. Reproducible: without them.
  const pax = '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'
  const args = ['-C', dir, '--sort=name', '--numeric-owner', '--xattrs', pax, ...exclude.map((e) => `--exclude=./${e}`), '-cf', '-', '.']
  const { stdout } = await run('tar', args, { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 })
  return stdout
}

/** A folder tree with every entry owned by root: [relative path, content | null for a folder, mode]. */
function writeTree(dir: string, entries: [string, string | null, number][]): void {
  for (const [rel, content, mode] of entries) {
    const target = path.join(dir, rel)
    fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 })
    if (content === null) fs.mkdirSync(target, { recursive: true })
    else fs.writeFileSync(target, content)
    fs.chmodSync(target, mode)
  }
  for (const file of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) fs.lchownSync(path.join(dir, file), 0, 0)
}

function layerOf(layout: Layout, tar: Buffer): Descriptor & { diffId: string } {
  return { ...layout.add(MEDIA.layerGzip, zlib.gzipSync(tar, { level: 6 })), diffId: sha256(tar) }
}

/** Builds the image in `layout` (a new folder). Root is needed: the layer's files are owned by root. */
export async function buildTestImage(spec: TestImageSpec, layoutDir: string, tag = 'latest'): Promise<BuiltImage> {
  const layout = new Layout(layoutDir)
  const work = fs.mkdtempSync(path.join(layoutDir, '.work-'))
  try {
    // Layer 1: the base, unchanged.
    let base: Descriptor & { diffId: string }
    if ('tarball' in spec.base) {
      const gz = fs.readFileSync(spec.base.tarball)
      base = { ...layout.add(MEDIA.layerGzip, gz), diffId: sha256(zlib.gunzipSync(gz)) }
    } else {
      base = layerOf(layout, await tarFolder(spec.base.dir, ['.minicontainer-rootfs.json']))
    }

    // Layer 2: the changes, as a build tool would record them.
    const changes = path.join(work, 'changes')
    const deletedDir = path.dirname(spec.deleted)
    writeTree(changes, [
      [path.join(deletedDir, `.wh.${path.basename(spec.deleted)}`), '', 0o644],
      [path.join(spec.opaqueDir, '.wh..wh..opq'), '', 0o644],
      [path.join(spec.opaqueDir, spec.opaqueFile[0]), spec.opaqueFile[1], 0o644],
      [spec.replaced[0], spec.replaced[1], 0o644],
      [spec.workingDir, null, 0o755],
    ])
    if (spec.paddingBytes) fs.writeFileSync(path.join(changes, 'padding.bin'), randomBytes(spec.paddingBytes))
    const top = layerOf(layout, await tarFolder(changes))

    const config = layout.addJson(MEDIA.config, {
      created: new Date(0).toISOString(),
      architecture: spec.architecture,
      os: 'linux',
      config: {
        Env: spec.env,
        WorkingDir: spec.workingDir,
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.user ? { User: spec.user } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [base.diffId, top.diffId] },
      history: [{ created_by: 'the Alpine minirootfs' }, { created_by: `rm /${spec.deleted}; opaque /${spec.opaqueDir}; WORKDIR ${spec.workingDir}` }],
    })
    const manifest = layout.addJson(MEDIA.manifest, {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config,
      layers: [base, top].map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    })

    // The other platform: one layer with one file and no shell.
    const other: Platform = spec.architecture === 'amd64' ? 'arm64' : 'amd64'
    const otherFiles = path.join(work, 'other')
    writeTree(otherFiles, [['WRONG-PLATFORM', `this is the ${other} image\n`, 0o644]])
    const otherLayer = layerOf(layout, await tarFolder(otherFiles))
    const otherConfig = layout.addJson(MEDIA.config, {
      architecture: other,
      os: 'linux',
      config: { Cmd: ['/WRONG-PLATFORM'] },
      rootfs: { type: 'layers', diff_ids: [otherLayer.diffId] },
    })
    const otherManifest = layout.addJson(MEDIA.manifest, {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: otherConfig,
      layers: [{ mediaType: otherLayer.mediaType, digest: otherLayer.digest, size: otherLayer.size }],
    })

    // The other platform first: an engine that takes the first entry takes the wrong one.
    const platformOf = (architecture: string) => ({ architecture, os: 'linux' })
    const entries = [
      { ...otherManifest, platform: platformOf(other) },
      { ...manifest, platform: platformOf(spec.architecture) },
    ]
    const index = layout.addJson(MEDIA.index, { schemaVersion: 2, mediaType: MEDIA.index, manifests: entries })
    fs.writeFileSync(path.join(layoutDir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...index, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }))
    return { layout: layoutDir, tag, index, manifest: entries[1]!, config, layers: [base, top], otherManifest: entries[0]!, spec }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

export interface PushOptions {
  /** Docker's media types (manifest list, schema 2 manifest) instead of OCI's: skopeo converts. */
  dockerFormat?: boolean
}

/** skopeo copy --all oci:LAYOUT:TAG docker://REGISTRY/NAME:TAG, with the pusher's credentials. */
export async function pushImage(image: BuiltImage, registry: LocalRegistry, reference: string, options: PushOptions = {}): Promise<void> {
  const args = [
    'copy', '--all', '--quiet', '--dest-tls-verify=false', '--dest-creds', registry.tokens.pushCredentials,
    ...(options.dockerFormat ? ['--format', 'v2s2'] : []),
    `oci:${image.layout}:${image.tag}`, `docker://${registry.host}/${reference}`,
  ]
  try {
    await run('skopeo', args, { env: { ...process.env, HOME: image.layout } }) // HOME: no auth files of the machine's
  } catch (error) {
    throw new Error(`skopeo ${args.filter((a) => a !== registry.tokens.pushCredentials).join(' ')} failed: ${(error as { stderr?: string }).stderr ?? error}`)
  }
}
