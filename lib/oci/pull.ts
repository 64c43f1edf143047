// Pulling an image, the plumbing around step 09's concepts: reference -> (index -> this platform's manifest) ->
// config -> layers, in the store's order (a record only once everything it names is in place), several layers at
// once, with progress rows. What decides is the engine's (engine/all-steps/image.ts, the learner's TODOs), given
// to pullImage as `steps`: which manifest of an index, how a blob gets into the store (verified), how an unpacked
// layer's whiteouts become overlayfs' own.
//
// The registry's HTTP is in registry.ts, the store's files in store.ts, tar in unpack.ts, the documents' shapes in
// documents.ts, users in user.ts.
import { createHash } from 'node:crypto'
import { FriendlyError } from '../errors.ts'
import { PullProgress } from './progress.ts'
import {
  machinePlatform, parseJson, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform,
} from './documents.ts'
import { formatReference, familiarReference, parseReference, type ImageReference } from './reference.ts'
import { CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, RegistryClient } from './registry.ts'
import { ImageStore, type ImageRecord, type LayerRecord } from './store.ts'
import { unpackLayer } from './unpack.ts'

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`

// ---- The learner's part -------------------------------------------------------------------------------------------
/** How a blob's bytes arrive: called only when they are needed (a blob already in the store is not downloaded). */
export type Download = () => Promise<AsyncIterable<Buffer> | Iterable<Buffer>>

/** The decisions of a pull, written by the learner in step 09 (engine/all-steps/image.ts). */
export interface PullSteps {
  /** The manifest of an index that runs on `platform`; throws when there is none. */
  chooseManifest(index: ImageIndex, platform: Platform): Descriptor
  /**
   * Makes sure the blob `expected` describes is in the store, under its digest, and that it is that blob: its bytes
   * checked while they stream, nothing stored on a mismatch. `onBytes` is told of every chunk (the progress bar).
   */
  storeBlob(store: ImageStore, expected: Descriptor, download: Download, onBytes?: (n: number) => void): Promise<void>
  /** Turns an unpacked layer's OCI whiteouts into overlayfs' own. */
  convertWhiteouts(layerFs: string): void
}

// ---- The pull -----------------------------------------------------------------------------------------------------
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

/** `main.js pull IMAGE`. */
export async function pullImage(text: string, steps: PullSteps, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(text)
  const store = options.store ?? new ImageStore()
  const platform = options.platform ?? machinePlatform()
  const client = new RegistryClient(ref, { insecureRegistries: options.insecureRegistries })
  const progress = new PullProgress({ quiet: options.quiet })
  store.init()
  const release = await store.lock((pid) => progress.say(`waiting for another pull or rmi (pid ${pid}) to finish`))
  try {
    return await pullLocked(ref, store, client, platform, progress, steps, options.parallel ?? 3)
  } finally {
    progress.end()
    release()
  }
}

async function pullLocked(
  ref: ImageReference,
  store: ImageStore,
  client: RegistryClient,
  platform: Platform,
  progress: PullProgress,
  steps: PullSteps,
  parallel: number,
): Promise<PullResult> {
  const name = formatReference(ref)
  let downloaded = 0
  /** A small blob (manifest, config) by digest, through the learner's storeBlob, then read from the store. */
  const smallBlob = async (descriptor: Descriptor, kind: 'manifest' | 'blob'): Promise<Buffer> => {
    await steps.storeBlob(store, descriptor, async () => {
      if (kind === 'manifest') return [(await client.manifest(descriptor.digest)).body]
      downloaded++
      return (await client.blob(descriptor.digest)).body
    })
    if (!store.hasBlob(descriptor.digest)) throw new FriendlyError(`${descriptor.digest} is not in the store after storeBlob()`, { hint: 'storeBlob must leave the blob in the store (staging.commit) when its bytes are right' })
    return store.readBlob(descriptor.digest)
  }
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
    if (!store.hasBlob(topDigest)) await store.saveBytes(topDigest, response.body) // its sha256 is computed above
    top = response.body
    topType = response.mediaType
  }

  // An index (a list of manifests per platform) or a manifest.
  let manifestDescriptor: Descriptor
  if (INDEX_TYPES.includes(topType) || (!topType && 'manifests' in parseJson<object>(top, name))) {
    const index = parseJson<ImageIndex>(top, `the index of ${name}`)
    if (!Array.isArray(index.manifests)) throw new FriendlyError(`the index of ${name} has no manifests`)
    manifestDescriptor = steps.chooseManifest(index, platform)
  } else if (MANIFEST_TYPES.includes(topType) || !topType) {
    manifestDescriptor = { mediaType: topType, digest: topDigest, size: top.length }
  } else {
    throw new FriendlyError(`${name}: unsupported manifest media type ${JSON.stringify(topType)}`, {
      hint: `minicontainer understands ${[...INDEX_TYPES, ...MANIFEST_TYPES].join(', ')}`,
    })
  }
  const manifestBytes = manifestDescriptor.digest === topDigest ? top : await smallBlob(manifestDescriptor, 'manifest')
  const manifest = parseJson<ImageManifest>(manifestBytes, `manifest ${manifestDescriptor.digest}`)
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new FriendlyError(`manifest ${manifestDescriptor.digest} of ${name} has no config or no layers`)
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) {
    throw new FriendlyError(`${name} is not a container image: its config is ${manifest.config.mediaType}`, { hint: 'an artifact (a Helm chart, a signature...) stored in a registry cannot run' })
  }

  // The config, then the layers it lists.
  const config = parseJson<ImageConfig>(await smallBlob(manifest.config, 'blob'), `config ${manifest.config.digest}`)
  const diffIds = config.rootfs?.diff_ids ?? []
  if (diffIds.length !== manifest.layers.length) {
    throw new FriendlyError(`${name}: the manifest lists ${manifest.layers.length} layers, but the config ${diffIds.length} diff_ids`)
  }
  if (config.os && config.os !== platform.os) throw new FriendlyError(`${name} is a ${config.os} image, not a ${platform.os} one`)
  if (config.architecture && config.architecture !== platform.architecture) {
    throw new FriendlyError(`${name} is for ${config.architecture}; this machine is ${platform.architecture}`, { hint: 'choose an image (or a tag) built for this machine' })
  }

  const layers: LayerRecord[] = manifest.layers.map((l, i) => ({
    digest: l.digest,
    diffId: diffIds[i]!,
    mediaType: l.mediaType,
    size: l.size,
  }))
  const previous = store.readImage(name)
  const upToDate = previous?.digest === topDigest && store.isComplete(previous)
  const queue = layers.map((layer, i) => async () => {
    const fetched = await fetchLayer(store, client, layer, manifest.layers[i]!, progress, steps) // (not `+= await`: tasks interleave)
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
async function fetchLayer(
  store: ImageStore,
  client: RegistryClient,
  layer: LayerRecord,
  descriptor: Descriptor,
  progress: PullProgress,
  steps: PullSteps,
): Promise<number> {
  const id = shortId(layer.digest)
  if (store.hasLayer(layer.diffId)) {
    progress.row(id, 'Already exists')
    return 0
  }
  const row = progress.row(id, 'Pulling fs layer')
  let downloaded = 0
  if (descriptor.urls?.length && !store.hasBlob(layer.digest)) throw new FriendlyError(`layer ${layer.digest} is a "foreign" layer, served only from ${descriptor.urls[0]}`, { hint: 'minicontainer pulls from the registry only (Windows base images have such layers)' })
  let done = 0
  let total: number | undefined = layer.size
  await steps.storeBlob(store, descriptor, async () => {
    downloaded = 1
    const { body, size } = await client.blob(layer.digest)
    total = size ?? layer.size
    return body
  }, (n) => row.bytes((done += n), total))
  if (!store.hasBlob(layer.digest)) throw new FriendlyError(`layer ${layer.digest} is not in the store after storeBlob()`, { hint: 'storeBlob must leave the blob in the store (staging.commit) when its bytes are right' })
  if (downloaded) row.status('Download complete')
  const staging = store.stagingLayer()
  try {
    let done = 0
    const unpacked = await unpackLayer(store.blobPath(layer.digest), layer.mediaType, staging.fs, (n) =>
      row.bytes((done += n), layer.size, 'Extracting'),
    )
    if (unpacked.diffId !== layer.diffId) {
      throw new FriendlyError(`refused layer ${layer.digest}: its uncompressed sha256 is ${unpacked.diffId}, but the config says ${layer.diffId}`)
    }
    steps.convertWhiteouts(staging.fs)
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
