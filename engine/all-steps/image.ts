// @file-since 09-images
// Step 09: images. `main.js pull alpine:3.20` fetches an OCI image from a registry (the distribution protocol:
// an index, this machine's manifest, its config, its layers), keeps every blob under its sha256 in a store on
// this machine, unpacks each layer once; `main.js run alpine:3.20 sh` makes the layers the overlay's lower layers
// (overlay.ts) and runs the command the way the image's config says. The HTTP, the store's files, tar and the
// progress bars are lib/oci's; the decisions are here.
// @imports 09-images
// @starter
// // What the given code uses. Your TODOs need more (node:crypto, node:fs, node:path, lib/errors.ts, lib/libc.ts,
// // lib/oci/registry.ts): import it here.
// @solution
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { FriendlyError } from '../../lib/errors.ts'
import { S_IFCHR, makedev, mknod, setxattr } from '../../lib/libc.ts'
import { MANIFEST_TYPES } from '../../lib/oci/registry.ts'
// @end
import type { RunOptions } from '../../lib/cli.ts'
import { IMAGE_USAGE, formatImages, parseImageCommand, removeImages } from '../../lib/oci/cli.ts'
import { findImage, type Descriptor, type ImageConfig, type ImageIndex, type Platform } from '../../lib/oci/documents.ts'
import { pullImage, type Download, type PullOptions, type PullResult } from '../../lib/oci/pull.ts'
import { ImageStore } from '../../lib/oci/store.ts'

// ---- 1. The index: one manifest per platform ----------------------------------------------------------------------
/**
 * The manifest of an image index (or Docker manifest list) that runs on `platform`. Throws, naming the platforms
 * the image does have, when none fits.
 */
export function chooseManifest(index: ImageIndex, platform: Platform): Descriptor {
  // @todo 09-images
  // TODO(09.1): Choose the entry of the index that is an image for this machine: its platform's
  //   os and architecture are this machine's (and, for arm64, a variant of v8 or none), and it is a
  //   manifest (an index also lists attestations and signatures, which are no images). When none
  //   fits, fail with a message that names the platforms the image does have. Why: one tag, many
  //   machines; the registry sends the same index to everyone, and the wrong one's programs cannot
  //   run here (ENOEXEC) or are not there at all.
  //   Lesson: "2. The index and the manifest". See the OCI image-spec's image-index.md.
  // @starter
  // return index.manifests[0]!
  // @solution
  const fits = (p: Platform | undefined) =>
    p !== undefined && p.os === platform.os && p.architecture === platform.architecture &&
    (platform.variant === undefined
      ? p.variant === undefined || (p.architecture === 'arm64' && p.variant === 'v8')
      : p.variant === platform.variant)
  const chosen = index.manifests.find((m) => MANIFEST_TYPES.includes(m.mediaType) && fits(m.platform))
  if (chosen) return chosen
  const available = index.manifests
    .map((m) => (m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : 'unknown'))
    .join(', ')
  throw new FriendlyError(`the image has no manifest for ${platform.os}/${platform.architecture} (it has: ${available || 'none'})`, {
    hint: 'choose an image built for this machine, e.g. a multi-platform one like alpine',
  })
  // @end
}

// ---- 2. Blobs: content-addressed, verified while they stream ------------------------------------------------------
/**
 * Makes sure the blob `expected` describes (a manifest, a config, a layer) is in the store under its digest, and is
 * that blob. `download()` starts the transfer and gives its chunks; `onBytes` is told of each (the progress bar).
 */
export async function storeBlob(store: ImageStore, expected: Descriptor, download: Download, onBytes?: (n: number) => void): Promise<void> {
  // @todo 09-images
  // TODO(09.2): Store the blob only if its bytes are the ones the descriptor names: their sha256
  //   is expected.digest and there are exactly expected.size of them. Check while the chunks stream
  //   through (a layer can be gigabytes: never read it twice, stop as soon as the registry sends more
  //   than promised), and when they do not match, fail with a clear message and store nothing (the
  //   staging file must not be committed). A blob already in the store is not downloaded again:
  //   its name there is the promise that it was checked. Why: the digest is the image's identity;
  //   a registry, a proxy or a disk can hand you other bytes under the same name.
  //   Lesson: "3. Digests". See node:crypto's createHash and the image-spec's descriptor.md.
  // @starter
  // const staging = store.stagingFile()
  // try {
  //   for await (const chunk of await download()) {
  //     await staging.write(chunk)
  //     onBytes?.(chunk.length)
  //   }
  //   await staging.commit(expected.digest)
  // } finally {
  //   staging.discard()
  // }
  // @solution
  if (store.hasBlob(expected.digest)) return
  const staging = store.stagingFile()
  try {
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of await download()) {
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
  // @end
}

// ---- 3. Whiteouts: deletions in a layer ---------------------------------------------------------------------------
export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_WHITEOUT = '.wh..wh..opq'
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque'

/** Turns an unpacked layer's OCI whiteouts into overlayfs' own, so that the folder can be a lowerdir. */
export function convertWhiteouts(layerFs: string): void {
  // @todo 09-images
  // TODO(09.3): A layer records deletions as files: `.wh.NAME` (NAME of a lower layer is gone)
  //   and `.wh..wh..opq` (everything the lower layers had in this folder is gone). overlayfs does
  //   not read those names: turn each into overlayfs' own whiteout, the file itself removed. Mind a
  //   layer that deletes NAME and makes it anew: the new NAME stays (a new folder hides the old
  //   one's contents). Why: without it, the files the image deleted come back in the container,
  //   and a `.wh.` file sits where they were.
  //   Lesson: "4. Whiteouts". See the image-spec's layer.md and the kernel's overlayfs.rst
  //   ("whiteouts and opaque directories"), man 2 mknod, man 2 setxattr.
  // @starter
  // void layerFs
  // @solution
  const names = fs.readdirSync(layerFs, { recursive: true, encoding: 'utf8' })
  for (const rel of names) {
    const name = path.basename(rel)
    if (!name.startsWith(WHITEOUT_PREFIX)) continue
    const file = path.join(layerFs, rel)
    const dir = path.dirname(file)
    fs.rmSync(file, { recursive: true, force: true })
    if (name === OPAQUE_WHITEOUT) {
      setxattr(dir, OVERLAY_OPAQUE_XATTR, 'y')
      continue
    }
    const target = path.join(dir, name.slice(WHITEOUT_PREFIX.length))
    const there = fs.lstatSync(target, { throwIfNoEntry: false })
    if (there?.isDirectory()) setxattr(target, OVERLAY_OPAQUE_XATTR, 'y')
    else if (!there) mknod(target, S_IFCHR, makedev(0, 0))
  }
  // @end
}

// ---- 4. The config: how the image wants to be run -----------------------------------------------------------------
export interface ProcessSpec {
  command: string[]
  env: Record<string, string>
  workingDir: string
  /** The image's User ("" = root), resolved inside the container from its own /etc/passwd and /etc/group. */
  user: string
}

/**
 * What runs, with which environment, where and as whom: from the image config and the command line (`command`,
 * empty when none was given), over the container's `defaults` environment.
 */
export function processSpec(config: ImageConfig, command: string[], defaults: Record<string, string>): ProcessSpec {
  const c = config.config ?? {}
  // @todo 09-images
  // TODO(09.5): Apply the image's config the way docker does: a command given on the command line
  //   replaces Cmd, and Entrypoint (when there is one) comes before either; the image's Env entries
  //   ("NAME=value", the value may hold "=") are added over the defaults (PATH too); the command
  //   starts in WorkingDir (/ when empty), as the image's User (root when empty). No command at all
  //   is an error that says what to give. Why: an image is a program packaged with how to start
  //   it; without its Env (its PATH!) and its folder it often cannot run at all.
  //   Lesson: "6. The config". See the image-spec's config.md (Entrypoint, Cmd, Env, WorkingDir, User).
  // @starter
  // return { command: command.length ? command : (c.Cmd ?? []), env: defaults, workingDir: '/', user: '' }
  // @solution
  const argv = [...(c.Entrypoint ?? []), ...(command.length ? command : (c.Cmd ?? []))]
  if (argv.length === 0) throw new FriendlyError('no command given, and the image has neither Entrypoint nor Cmd', { hint: 'give one after the image: main.js run IMAGE -- /bin/sh' })
  const env = { ...defaults }
  for (const entry of c.Env ?? []) {
    const eq = entry.indexOf('=')
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  return { command: argv, env, workingDir: c.WorkingDir || '/', user: c.User ?? '' }
  // @end
}

// ---- The commands ---------------------------------------------------------------------------------------------------
/** `main.js pull IMAGE`: the pull with this file's decisions. */
export function pull(image: string, options: PullOptions = {}): Promise<PullResult> {
  return pullImage(image, { chooseManifest, storeBlob, convertWhiteouts }, options)
}

/** `main.js pull|images|rmi ...`: returns the exit status. */
export async function imageCommand(argv: string[]): Promise<number> {
  const command = parseImageCommand(argv)
  if (command.kind === 'pull') await pull(command.image, { insecureRegistries: command.insecureRegistries })
  else if (command.kind === 'images') {
    const store = new ImageStore()
    console.log(formatImages(store.listImages(), store))
  } else for (const line of await removeImages(command.images)) console.log(line)
  return 0
}
export { IMAGE_USAGE }

export interface ImageRun extends ProcessSpec {
  /** The image's layer folders in the store, bottom first (as its manifest lists them). */
  layers: string[]
  /** Ends the image's pin (its layers may go with `rmi` only once no container uses them). */
  unpin: () => void
}

/**
 * `main.js run IMAGE ...`, host side: the image from the store (pulled first when it is not there), kept there
 * while the container runs, and what runs in it.
 */
export async function prepareImage(options: RunOptions, defaults: Record<string, string>): Promise<ImageRun> {
  const store = new ImageStore()
  let found
  try {
    found = findImage(options.image!, store)
  } catch {
    console.error(`Unable to find image '${options.image}' locally`)
    await pull(options.image!, { insecureRegistries: options.insecureRegistries, store })
    found = findImage(options.image!, store)
  }
  const unpin = store.pin(found.record)
  const spec = processSpec(found.config, options.command, defaults)
  // Like docker: HOME is the user's home from the image's /etc/passwd (init sets it), unless the image's Env says.
  if (!(found.config.config?.Env ?? []).some((e) => e.startsWith('HOME='))) delete spec.env.HOME
  return { ...spec, layers: found.record.layers.map((l) => store.layerFs(l.diffId)), unpin }
}
