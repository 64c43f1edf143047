// The content-addressed image store, on the machine's own disk ($MINICONTAINER_HOME/images):
//
//   blobs/sha256/HEX          every verified blob (indexes, manifests, configs, compressed layers), named by digest
//   layers/HEX/fs/            each layer unpacked once (HEX = its diff_id, the sha256 of the uncompressed tar),
//   layers/HEX/layer.json     shared by every image that has it: these folders become the overlay's lowerdirs
//   images/NAME.json          one record per reference pulled (registry/repository:tag): which manifest, config, layers
//   pins/PID-*.json           images in use by a running container (kept, even when `rmi` removes their record)
//   .staging-PID-*            unfinished work: renamed into place only when complete, so an interrupted pull leaves
//                             nothing that is later taken for good; removed by the next run once PID is gone
//   .lock                     held (by PID) by a pull or an rmi while it changes the store
//
// A name in blobs/ or layers/ is a promise that the content is complete and verified: only rename() puts it there.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from '../errors.ts'
import { minicontainerHome } from '../rootfs/location.ts'
import { isAlive } from '../pid.ts'

export interface LayerRecord {
  /** The compressed blob's digest (what the manifest and the registry call it). */
  digest: string
  /** The digest of the uncompressed tar (the config's rootfs.diff_ids): names the unpacked layer. */
  diffId: string
  mediaType: string
  size: number
}

export interface ImageRecord {
  /** The full reference pulled, e.g. 127.0.0.1:5000/test/alpine:1 or docker.io/library/alpine:3.20 */
  reference: string
  /** The digest of what the reference pointed at (an index or a manifest): `docker pull`'s "Digest:". */
  digest: string
  /** The manifest chosen for this machine's platform. */
  manifest: string
  /** The image's config; its short form is the image ID, as in docker. */
  config: string
  /** Bottom layer first, as in the manifest. */
  layers: LayerRecord[]
  platform: string
  pulledAt: string
}

export interface StagingFile {
  path: string
  /** Appends a chunk (waits when the disk is slower than the network). */
  write(chunk: Buffer): Promise<void>
  /** Renames the complete file into blobs/ under `digest`. Call only once the content is verified. */
  commit(digest: string): Promise<void>
  /** Removes the unfinished file. Safe to call more than once, and after commit. */
  discard(): void
}

export interface LayerInfo {
  diffId: string
  /** Bytes of the uncompressed tar. */
  unpackedBytes: number
}

const DIGEST = /^sha256:([0-9a-f]{64})$/

/** HEX of sha256:HEX, refusing anything else (a digest becomes a file name: no `..` may sneak in). */
export function digestHex(digest: string): string {
  const hex = DIGEST.exec(digest)?.[1]
  if (!hex) {
    throw new FriendlyError(`unsupported digest ${JSON.stringify(digest.slice(0, 80))}`, {
      hint: 'minicontainer verifies sha256 digests only (sha256: and 64 lowercase hex digits)',
    })
  }
  return hex
}

/** A short, stable, file-name-safe name for a reference (images/NAME.json). */
function recordName(reference: string): string {
  return encodeURIComponent(reference).replace(/%/g, '_') + '.json'
}

export function defaultStoreRoot(): string {
  return path.join(minicontainerHome(), 'images')
}

export class ImageStore {
  readonly root: string
  /** This process's unfinished work (removed on Ctrl-C by discardUnfinished). */
  private readonly unfinished = new Set<string>()

  constructor(root = defaultStoreRoot()) {
    this.root = root
  }

  // ---- Paths --------------------------------------------------------------------------------------------------
  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', digestHex(digest))
  }

  /** The folder of an unpacked layer (holds fs/ and layer.json). */
  layerDir(diffId: string): string {
    return path.join(this.root, 'layers', digestHex(diffId))
  }

  /** The unpacked files of a layer: an overlay lowerdir. */
  layerFs(diffId: string): string {
    return path.join(this.layerDir(diffId), 'fs')
  }

  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest))
  }

  hasLayer(diffId: string): boolean {
    return fs.existsSync(path.join(this.layerDir(diffId), 'layer.json'))
  }

  readBlob(digest: string): Buffer {
    return fs.readFileSync(this.blobPath(digest))
  }

  /** Makes the store's folders (and removes what killed runs left). */
  init(): void {
    for (const dir of ['blobs/sha256', 'layers', 'images', 'pins']) fs.mkdirSync(path.join(this.root, dir), { recursive: true })
    this.removeStale()
  }

  // ---- Staging: work in progress under names nobody takes for good ------------------------------------------------
  private stagingPath(suffix = ''): string {
    const p = path.join(this.root, `.staging-${process.pid}-${randomBytes(4).toString('hex')}${suffix}`)
    this.unfinished.add(p)
    return p
  }

  private discardPath(p: string): void {
    fs.rmSync(p, { recursive: true, force: true })
    this.unfinished.delete(p)
  }

  /** Removes this process's unfinished work (call on Ctrl-C). */
  discardUnfinished(): void {
    for (const p of [...this.unfinished]) this.discardPath(p)
  }

  /** Leftovers of runs that were killed. A live run's (another pid, or ours) are left alone. */
  removeStale(): void {
    for (const name of fs.readdirSync(this.root)) {
      const pid = Number(/^\.staging-(\d+)-/.exec(name)?.[1])
      if (pid && pid !== process.pid && !isAlive(pid)) fs.rmSync(path.join(this.root, name), { recursive: true, force: true })
    }
    for (const name of this.readdir('pins')) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1])
      if (pid && !isAlive(pid)) fs.rmSync(path.join(this.root, 'pins', name), { force: true })
    }
  }

  /** A new file for a blob being downloaded. */
  stagingFile(): StagingFile {
    const file = this.stagingPath('.blob')
    const fd = fs.openSync(file, 'wx', 0o644)
    let open = true
    const close = () => {
      if (open) fs.closeSync(fd)
      open = false
    }
    return {
      path: file,
      write: (chunk) =>
        new Promise((resolve, reject) => fs.write(fd, chunk, 0, chunk.length, null, (error) => (error ? reject(error) : resolve()))),
      commit: async (digest) => {
        fs.fsyncSync(fd)
        close()
        const target = this.blobPath(digest)
        // Another pull may have stored the same blob meanwhile: the same content, keep either.
        fs.renameSync(file, target)
        this.unfinished.delete(file)
      },
      discard: () => {
        close()
        this.discardPath(file)
      },
    }
  }

  /** Stores bytes whose sha256 the caller computed itself (a manifest fetched by tag) under that digest. */
  async saveBytes(digest: string, bytes: Buffer): Promise<void> {
    const staging = this.stagingFile()
    try {
      await staging.write(bytes)
      await staging.commit(digest)
    } finally {
      staging.discard()
    }
  }

  /** A new folder for a layer being unpacked: its files go into `fs`. */
  stagingLayer(): { dir: string; fs: string; discard(): void } {
    const dir = this.stagingPath('.layer')
    fs.mkdirSync(path.join(dir, 'fs'), { recursive: true, mode: 0o755 })
    return { dir, fs: path.join(dir, 'fs'), discard: () => this.discardPath(dir) }
  }

  /** Puts a completely unpacked (and converted) layer in place; layer.json is written last, then one rename. */
  commitLayer(staging: { dir: string }, info: LayerInfo): void {
    fs.writeFileSync(path.join(staging.dir, 'layer.json'), JSON.stringify({ ...info, unpackedAt: new Date().toISOString() }, null, 2) + '\n')
    const target = this.layerDir(info.diffId)
    if (this.hasLayer(info.diffId)) {
      this.discardPath(staging.dir) // unpacked by another pull meanwhile
      return
    }
    if (fs.existsSync(target)) {
      // A folder without layer.json: not ours to trust (an older format, or damage). Move it aside first.
      const aside = this.stagingPath('-old')
      fs.renameSync(target, aside)
      this.discardPath(aside)
    }
    fs.renameSync(staging.dir, target)
    this.unfinished.delete(staging.dir)
  }

  readLayer(diffId: string): LayerInfo | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.layerDir(diffId), 'layer.json'), 'utf8')) as LayerInfo
    } catch {
      return undefined
    }
  }

  // ---- Image records ----------------------------------------------------------------------------------------
  readImage(reference: string): ImageRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.root, 'images', recordName(reference)), 'utf8')) as ImageRecord
    } catch {
      return undefined
    }
  }

  /** Whether everything a record names is in the store (a record whose layer was removed by hand is not). */
  isComplete(record: ImageRecord): boolean {
    return (
      [record.manifest, record.config, record.digest].every((d) => this.hasBlob(d)) &&
      record.layers.every((l) => this.hasLayer(l.diffId))
    )
  }

  /** Written (atomically) only after every blob and layer it names is in place. */
  writeImage(record: ImageRecord): void {
    const staging = this.stagingPath('.json')
    fs.writeFileSync(staging, JSON.stringify(record, null, 2) + '\n')
    fs.renameSync(staging, path.join(this.root, 'images', recordName(record.reference)))
    this.unfinished.delete(staging)
  }

  listImages(): ImageRecord[] {
    return this.readdir('images')
      .filter((n) => n.endsWith('.json'))
      .flatMap((n) => {
        try {
          return [JSON.parse(fs.readFileSync(path.join(this.root, 'images', n), 'utf8')) as ImageRecord]
        } catch {
          return []
        }
      })
      .sort((a, b) => a.reference.localeCompare(b.reference))
  }

  /** Removes a record, then every blob and layer that no other record (nor a running container) uses. */
  removeImage(reference: string): { removedBlobs: string[]; removedLayers: string[] } {
    const file = path.join(this.root, 'images', recordName(reference))
    if (!fs.existsSync(file)) throw new FriendlyError(`no such image: ${reference}`, { hint: 'see which there are: main.js images' })
    fs.rmSync(file)
    return this.collectGarbage()
  }

  /** Deletes blobs and layers no record and no pin refers to. A layer is renamed aside first, then removed. */
  collectGarbage(): { removedBlobs: string[]; removedLayers: string[] } {
    const keepBlobs = new Set<string>()
    const keepLayers = new Set<string>()
    const roots = [...this.listImages(), ...this.readPins()]
    for (const r of roots) {
      for (const d of [r.digest, r.manifest, r.config]) keepBlobs.add(digestHex(d))
      for (const l of r.layers) {
        keepBlobs.add(digestHex(l.digest))
        keepLayers.add(digestHex(l.diffId))
      }
    }
    const removedBlobs: string[] = []
    for (const hex of this.readdir('blobs/sha256')) {
      if (keepBlobs.has(hex) || !/^[0-9a-f]{64}$/.test(hex)) continue
      fs.rmSync(path.join(this.root, 'blobs/sha256', hex), { force: true })
      removedBlobs.push(`sha256:${hex}`)
    }
    const removedLayers: string[] = []
    for (const hex of this.readdir('layers')) {
      if (keepLayers.has(hex)) continue
      const aside = this.stagingPath('-removed')
      fs.renameSync(path.join(this.root, 'layers', hex), aside)
      this.discardPath(aside)
      removedLayers.push(`sha256:${hex}`)
    }
    return { removedBlobs, removedLayers }
  }

  // ---- Pins: images in use by running containers ------------------------------------------------------------------
  /** Marks an image as in use until the returned function is called (or this process is gone). */
  pin(record: ImageRecord): () => void {
    const file = path.join(this.root, 'pins', `${process.pid}-${randomBytes(4).toString('hex')}.json`)
    fs.writeFileSync(file, JSON.stringify(record))
    return () => fs.rmSync(file, { force: true })
  }

  private readPins(): ImageRecord[] {
    return this.readdir('pins').flatMap((n) => {
      const pid = Number(/^(\d+)-/.exec(n)?.[1])
      if (!pid || !isAlive(pid)) return []
      try {
        return [JSON.parse(fs.readFileSync(path.join(this.root, 'pins', n), 'utf8')) as ImageRecord]
      } catch {
        return []
      }
    })
  }

  // ---- The lock: one process changes the store at a time -----------------------------------------------------
  /**
   * Waits until no other live process holds the store, then holds it. Returns the release function. A lock left by
   * a killed process is taken over.
   */
  async lock(onWait?: (holder: number) => void): Promise<() => void> {
    const file = path.join(this.root, '.lock')
    let told = false
    for (;;) {
      try {
        fs.writeFileSync(file, String(process.pid), { flag: 'wx' })
        return () => {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true })
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
      const holder = Number(fs.readFileSync(file, { encoding: 'utf8', flag: 'r' }).trim())
      if (!holder || !isAlive(holder)) {
        // Taken over atomically: a rename of our own file over the stale one.
        const mine = this.stagingPath('.lock')
        fs.writeFileSync(mine, String(process.pid))
        fs.renameSync(mine, file)
        this.unfinished.delete(mine)
        if (fs.readFileSync(file, 'utf8') === String(process.pid)) {
          return () => {
            if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true })
          }
        }
        continue
      }
      if (!told) onWait?.(holder)
      told = true
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  private readdir(sub: string): string[] {
    try {
      return fs.readdirSync(path.join(this.root, sub))
    } catch {
      return []
    }
  }
}
