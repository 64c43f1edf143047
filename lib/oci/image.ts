// Pulling an image: reference -> (index -> this platform's manifest) -> config -> layers, every blob verified by its
// sha256 while it streams, each layer unpacked once and its whiteouts turned into overlayfs' own. Then what `run`
// needs from it: the layer folders (the overlay's lowerdirs) and the config (Env, Entrypoint/Cmd, WorkingDir).
//
// The registry's HTTP is in registry.ts, the store's files in store.ts, tar in unpack.ts, the documents' shapes in
// documents.ts, users in user.ts; this file is the part that decides (it becomes the engine's step-09 code: the
// learner's TODOs are the concepts here).
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from '../errors.ts'
import { S_IFCHR, makedev, mknod, setxattr } from '../libc.ts'
import { PullProgress } from './progress.ts'
import { machinePlatform, parseJson, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from './documents.ts'
import { formatReference, familiarReference, parseReference, type ImageReference } from './reference.ts'
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, RegistryClient } from './registry.ts'
import { ImageStore, type ImageRecord, type LayerRecord } from './store.ts'
import { unpackLayer } from './unpack.ts'

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

// ---- 1. Index -> manifest ------------------------------------------------------------------------------------------
/**
 * The manifest of an index that runs on `platform`: the same os and architecture; for arm64, a variant of v8 or
 * none. Throws, naming the platforms the image does have, when none fits.
 */
export function chooseManifest(index: ImageIndex, platform: Platform): Descriptor {
  const fits = (p: Platform | undefined) =>
    p !== undefined && p.os === platform.os && p.architecture === platform.architecture &&
    (platform.variant === undefined ? p.variant === undefined || (p.architecture === 'arm64' && p.variant === 'v8') : p.variant === platform.variant)
  const chosen = index.manifests.find((m) => MANIFEST_TYPES.includes(m.mediaType) && fits(m.platform))
  if (chosen) return chosen
  const available = index.manifests.map((m) => (m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : 'unknown')).join(', ')
  throw new FriendlyError(`the image has no manifest for ${platform.os}/${platform.architecture} (it has: ${available || 'none'})`, {
    hint: 'choose an image built for this machine, e.g. a multi-platform one like alpine',
  })
}

// ---- 2. Verified blobs --------------------------------------------------------------------------------------------
/**
 * Stores a blob from `body` under its digest only if the bytes are the ones `expected` describes: the sha256 of
 * everything received equals expected.digest and the size is expected.size. Verified while it streams, so nothing
 * is read twice; a registry that sends more than promised is stopped at once. Nothing half-stored on failure.
 */
export async function saveVerifiedBlob(store: ImageStore, expected: Descriptor, body: AsyncIterable<Buffer> | Iterable<Buffer>, onBytes?: (n: number) => void): Promise<void> {
  const staging = store.stagingFile()
  try {
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of body) {
      size += chunk.length
      if (size > expected.size) throw new FriendlyError(`refused ${expected.digest}: the registry sent more than the ${expected.size} bytes the manifest gives`)
      hash.update(chunk)
      await staging.write(chunk)
      onBytes?.(chunk.length)
    }
    const got = `sha256:${hash.digest('hex')}`
    if (got !== expected.digest) {
      throw new FriendlyError(`refused ${expected.digest}: sha256 mismatch: the registry sent ${size} bytes whose sha256 is ${got}`, {
        hint: 'the blob was damaged on the way or in the registry, or someone altered it: nothing was stored; try again, and if it persists, tell the image\'s owner',
      })
    }
    if (size !== expected.size) throw new FriendlyError(`refused ${expected.digest}: ${size} bytes, but the manifest gives ${expected.size}`)
    await staging.commit(expected.digest)
  } finally {
    staging.discard()
  }
}

/** A small blob (manifest, config) by digest: from the store, or downloaded, verified and stored. */
async function smallBlob(store: ImageStore, client: RegistryClient, descriptor: Descriptor, kind: 'manifest' | 'blob'): Promise<Buffer> {
  if (!store.hasBlob(descriptor.digest)) {
    if (kind === 'manifest') {
      await saveVerifiedBlob(store, descriptor, [(await client.manifest(descriptor.digest)).body])
    } else {
      await saveVerifiedBlob(store, descriptor, (await client.blob(descriptor.digest)).body)
    }
  }
  return store.readBlob(descriptor.digest)
}

// ---- 3. Whiteouts ---------------------------------------------------------------------------------------------------
export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_WHITEOUT = '.wh..wh..opq'
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque'

/**
 * Turns an unpacked layer's OCI whiteouts into overlayfs' own, so the layer folder can be a lowerdir:
 *   DIR/.wh.NAME      (NAME was deleted)            -> DIR/NAME, a character device 0/0
 *   DIR/.wh..wh..opq  (DIR's old contents are gone) -> the xattr trusted.overlay.opaque="y" on DIR
 * A whiteout only hides what LOWER layers have: if this layer itself has NAME too, NAME stays, and a folder NAME
 * becomes opaque (the old one was deleted, this is a new one).
 */
export function convertWhiteouts(layerFs: string): { whiteouts: number; opaque: number } {
  let whiteouts = 0
  let opaque = 0
  const names = fs.readdirSync(layerFs, { recursive: true, encoding: 'utf8' })
  for (const rel of names) {
    const name = path.basename(rel)
    if (!name.startsWith(WHITEOUT_PREFIX)) continue
    const file = path.join(layerFs, rel)
    const dir = path.dirname(file)
    fs.rmSync(file, { recursive: true, force: true })
    if (name === OPAQUE_WHITEOUT) {
      setxattr(dir, OVERLAY_OPAQUE_XATTR, 'y')
      opaque++
      continue
    }
    const target = path.join(dir, name.slice(WHITEOUT_PREFIX.length))
    const there = fs.lstatSync(target, { throwIfNoEntry: false })
    if (there?.isDirectory()) setxattr(target, OVERLAY_OPAQUE_XATTR, 'y')
    else if (!there) mknod(target, S_IFCHR, makedev(0, 0))
    whiteouts++
  }
  return { whiteouts, opaque }
}

// ---- 4. The pull -----------------------------------------------------------------------------------------------------
export interface PullOptions {
  insecureRegistries?: readonly string[]
  store?: ImageStore
  /** No progress output (tests). */
  quiet?: boolean
  platform?: Platform
  /** Layers downloaded at the same time (docker: 3). */
  parallel?: number
}

export interface PullResult {
  record: ImageRecord
  /** Blobs (configs, layers) downloaded by this pull: 0 when everything was there. */
  downloadedBlobs: number
  /** Whether the image was already complete in the store. */
  upToDate: boolean
}

const shortId = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12)

/** `main.ts pull IMAGE`. */
export async function pullImage(text: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(text)
  const store = options.store ?? new ImageStore()
  const platform = options.platform ?? machinePlatform()
  const client = new RegistryClient(ref, { insecureRegistries: options.insecureRegistries })
  const progress = new PullProgress({ quiet: options.quiet })
  store.init()
  const release = await store.lock((pid) => progress.say(`waiting for another pull or rmi (pid ${pid}) to finish`))
  try {
    return await pullLocked(ref, store, client, platform, progress, options.parallel ?? 3)
  } finally {
    progress.end()
    release()
  }
}

async function pullLocked(ref: ImageReference, store: ImageStore, client: RegistryClient, platform: Platform, progress: PullProgress, parallel: number): Promise<PullResult> {
  const name = formatReference(ref)
  progress.say(`${ref.digest ?? ref.tag}: Pulling from ${ref.repository}`)

  // What the reference points at: by digest, content that cannot change (taken from the store when there);
  // by tag, whatever the registry says today (small, and it tells whether anything changed).
  let topDigest: string
  let top: Buffer
  let topType: string
  if (ref.digest && store.hasBlob(ref.digest)) {
    topDigest = ref.digest
    top = store.readBlob(ref.digest)
    topType = String(parseJson<{ mediaType?: string }>(top, `manifest ${ref.digest}`).mediaType ?? '')
  } else {
    const response = await client.manifest(ref.digest ?? ref.tag!)
    topDigest = sha256(response.body)
    if (ref.digest && topDigest !== ref.digest) throw new FriendlyError(`refused ${name}: the registry sent a manifest whose sha256 is ${topDigest}`)
    if (response.claimedDigest && response.claimedDigest !== topDigest) {
      throw new FriendlyError(`refused ${name}: the registry says the manifest is ${response.claimedDigest}, but its sha256 is ${topDigest}`)
    }
    if (!store.hasBlob(topDigest)) await saveVerifiedBlob(store, { mediaType: response.mediaType, digest: topDigest, size: response.body.length }, [response.body])
    top = response.body
    topType = response.mediaType
  }

  // An index (a list of manifests per platform) or a manifest.
  let manifestDescriptor: Descriptor
  if (INDEX_TYPES.includes(topType) || (!topType && 'manifests' in parseJson<object>(top, name))) {
    const index = parseJson<ImageIndex>(top, `the index of ${name}`)
    if (!Array.isArray(index.manifests)) throw new FriendlyError(`the index of ${name} has no manifests`)
    manifestDescriptor = chooseManifest(index, platform)
  } else if (MANIFEST_TYPES.includes(topType) || !topType) {
    manifestDescriptor = { mediaType: topType, digest: topDigest, size: top.length }
  } else {
    throw new FriendlyError(`${name}: unsupported manifest media type ${JSON.stringify(topType)}`, {
      hint: `minicontainer understands ${[...INDEX_TYPES, ...MANIFEST_TYPES].join(', ')}`,
    })
  }
  const manifestBytes = manifestDescriptor.digest === topDigest ? top : await smallBlob(store, client, manifestDescriptor, 'manifest')
  const manifest = parseJson<ImageManifest>(manifestBytes, `manifest ${manifestDescriptor.digest}`)
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new FriendlyError(`manifest ${manifestDescriptor.digest} of ${name} has no config or no layers`)
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
    throw new FriendlyError(`${name} is not a container image: its config is ${manifest.config.mediaType}`, { hint: 'an artifact (a Helm chart, a signature...) stored in a registry cannot run' })
  }

  // The config, then the layers it lists.
  const before = store.hasBlob(manifest.config.digest) ? 0 : 1
  const config = parseJson<ImageConfig>(await smallBlob(store, client, manifest.config, 'blob'), `config ${manifest.config.digest}`)
  const diffIds = config.rootfs?.diff_ids ?? []
  if (diffIds.length !== manifest.layers.length) {
    throw new FriendlyError(`${name}: the manifest lists ${manifest.layers.length} layers, but the config ${diffIds.length} diff_ids`)
  }
  if (config.os && config.os !== platform.os) throw new FriendlyError(`${name} is a ${config.os} image, not a ${platform.os} one`)
  if (config.architecture && config.architecture !== platform.architecture) {
    throw new FriendlyError(`${name} is for ${config.architecture}; this machine is ${platform.architecture}`, { hint: 'choose an image (or a tag) built for this machine' })
  }

  const layers: LayerRecord[] = manifest.layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i]!, mediaType: l.mediaType, size: l.size }))
  const previous = store.readImage(name)
  const upToDate = previous?.digest === topDigest && store.isComplete(previous)
  let downloaded = before
  const queue = layers.map((layer, i) => async () => {
    const fetched = await fetchLayer(store, client, layer, manifest.layers[i]!, progress) // (not `+= await`: tasks interleave)
    downloaded += fetched
  })
  await runLimited(queue, parallel)

  const record: ImageRecord = upToDate ? previous : {
    reference: name,
    digest: topDigest,
    manifest: manifestDescriptor.digest,
    config: manifest.config.digest,
    layers,
    platform: `${platform.os}/${platform.architecture}`,
    pulledAt: new Date().toISOString(),
  }
  if (!upToDate) store.writeImage(record)
  progress.say(`Digest: ${topDigest}`)
  progress.say(upToDate ? `Status: Image is up to date for ${familiarReference(ref)}` : `Status: Downloaded newer image for ${familiarReference(ref)}`)
  return { record, downloadedBlobs: downloaded, upToDate }
}

/** One layer: already unpacked, or unpacked from the stored blob, or downloaded (verified) first. Returns 1 if downloaded. */
async function fetchLayer(store: ImageStore, client: RegistryClient, layer: LayerRecord, descriptor: Descriptor, progress: PullProgress): Promise<number> {
  const id = shortId(layer.digest)
  if (store.hasLayer(layer.diffId)) {
    progress.row(id, 'Already exists')
    return 0
  }
  const row = progress.row(id, 'Pulling fs layer')
  let downloaded = 0
  if (!store.hasBlob(layer.digest)) {
    if (descriptor.urls?.length) throw new FriendlyError(`layer ${layer.digest} is a "foreign" layer, served only from ${descriptor.urls[0]}`, { hint: 'minicontainer pulls from the registry only (Windows base images have such layers)' })
    const { body, size } = await client.blob(layer.digest)
    let done = 0
    await saveVerifiedBlob(store, descriptor, body, (n) => row.bytes((done += n), size ?? layer.size))
    row.status('Download complete')
    downloaded = 1
  }
  const staging = store.stagingLayer()
  try {
    let done = 0
    const unpacked = await unpackLayer(store.blobPath(layer.digest), layer.mediaType, staging.fs, (n) => row.bytes((done += n), layer.size, 'Extracting'))
    if (unpacked.diffId !== layer.diffId) {
      throw new FriendlyError(`refused layer ${layer.digest}: its uncompressed sha256 is ${unpacked.diffId}, but the config says ${layer.diffId}`)
    }
    convertWhiteouts(staging.fs)
    store.commitLayer(staging, { diffId: layer.diffId, unpackedBytes: unpacked.bytes })
  } finally {
    staging.discard()
  }
  row.status('Pull complete')
  return downloaded
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0
  let failed: unknown
  const worker = async () => {
    while (next < tasks.length && failed === undefined) {
      const task = tasks[next++]!
      try {
        await task()
      } catch (error) {
        failed ??= error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker))
  if (failed !== undefined) throw failed
}

// ---- 5. What `run IMAGE` needs ------------------------------------------------------------------------------------
/**
 * The overlay's lower layers for an image: its layer folders, TOP layer FIRST (overlayfs looks a path up in the
 * leftmost lowerdir first, so the first one listed wins).
 */
export function lowerDirs(record: ImageRecord, store = new ImageStore()): string[] {
  return record.layers.map((l) => store.layerFs(l.diffId)).reverse()
}

export interface ProcessSpec {
  command: string[]
  env: Record<string, string>
  workingDir: string
  /** The image's User ("" = root), resolved inside the container from its /etc/passwd and /etc/group. */
  user: string
}

/**
 * What runs, where and how, from the image config and the command line (docker's rules): a command given replaces
 * Cmd, and is appended to Entrypoint; the image's Env overrides the defaults (PATH included); WorkingDir defaults to /.
 */
export function processSpec(config: ImageConfig, command: string[], defaults: Record<string, string>): ProcessSpec {
  const c = config.config ?? {}
  const entrypoint = c.Entrypoint ?? []
  const argv = [...entrypoint, ...(command.length ? command : (c.Cmd ?? []))]
  if (argv.length === 0) throw new FriendlyError('no command given, and the image has neither Entrypoint nor Cmd', { hint: 'give one after the image: main.ts run IMAGE -- /bin/sh' })
  const env = { ...defaults }
  for (const entry of c.Env ?? []) {
    const eq = entry.indexOf('=')
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return { command: argv, env, workingDir: c.WorkingDir || '/', user: c.User ?? '' }
}
