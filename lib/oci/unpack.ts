// Unpacking one layer blob into a folder: decompress it (gzip, zstd or none, by media type), count and hash the
// uncompressed tar on the way (its sha256 is the layer's diff_id, which the image config lists), and let the
// system's GNU tar write the files: as root it keeps numeric owners, modes, device nodes, hard links and file
// capabilities, and it refuses the classic tricks of hostile archives (member names with `..`, writing through a
// symlink the archive made: such links are created last).
//
// The whiteouts are left as they are in the tar (`.wh.NAME` files): turning them into overlayfs' own is the
// engine's part.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { Transform, Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import zlib from 'node:zlib'
import { FriendlyError } from '../errors.ts'

export interface Unpacked {
  /** sha256 of the uncompressed tar: the layer's diff_id. */
  diffId: string
  /** Bytes of the uncompressed tar. */
  bytes: number
}

/** The decompressor a layer media type needs (OCI's and Docker's names, and the nondistributable variants). */
export function decompressorFor(mediaType: string): (() => Transform) | null {
  if (/\.tar\+gzip$|\.tar\.gzip$|rootfs\.diff\.tar\.gzip$/.test(mediaType)) return () => zlib.createGunzip()
  if (/\.tar\+zstd$/.test(mediaType)) return () => zlib.createZstdDecompress()
  if (/\.tar$/.test(mediaType)) return null
  throw new FriendlyError(`unsupported layer media type ${mediaType}`, {
    hint: 'minicontainer unpacks tar layers: plain, gzip or zstd (application/vnd.oci.image.layer.v1.tar[+gzip|+zstd])',
  })
}

/**
 * Unpacks `blobFile` into `into` (an empty folder). Resolves with the diff_id it computed; the caller compares it
 * with the config's. Rejects with a FriendlyError when the blob is not a valid (compressed) tar.
 */
export async function unpackLayer(blobFile: string, mediaType: string, into: string, onBytes?: (compressed: number) => void): Promise<Unpacked> {
  const decompress = decompressorFor(mediaType)
  // Only file capabilities and user attributes come from the archive: trusted.overlay.* attributes in a layer
  // would tell overlayfs to redirect or hide paths, which only the engine may decide.
  const args = ['-x', '-f', '-', '-C', into, '--numeric-owner', '--same-owner', '--same-permissions',
    '--xattrs', '--xattrs-include=security.capability', '--xattrs-include=user.*']
  const tar = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'] })
  let stderr = ''
  tar.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)))
  const tarDone = new Promise<number | null>((resolve, reject) => {
    tar.once('error', reject)
    tar.once('close', (code) => resolve(code))
  })

  const hash = createHash('sha256')
  let bytes = 0
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, next) {
      hash.update(chunk)
      bytes += chunk.length
      next(null, chunk)
    },
  })
  // tar may stop reading at the archive's end marker, before the padding after it: the rest is still hashed (the
  // diff_id covers every byte), just not written to a pipe nobody reads any more.
  let stdinGone = false
  let waiting: (() => void) | undefined
  const resume = () => {
    const next = waiting
    waiting = undefined
    next?.()
  }
  tar.stdin.on('error', () => ((stdinGone = true), resume()))
  tar.stdin.on('close', () => ((stdinGone = true), resume()))
  tar.stdin.on('drain', resume)
  const toTar = new Writable({
    write(chunk: Buffer, _encoding, next) {
      if (stdinGone || tar.stdin.write(chunk)) next()
      else waiting = next
    },
    final(next) {
      if (!stdinGone) tar.stdin.end()
      next()
    },
  })
  const source: Readable = fs.createReadStream(blobFile)
  if (onBytes) source.on('data', (chunk) => onBytes(chunk.length))
  let streamError: unknown
  try {
    if (decompress) await pipeline(source, decompress(), measure, toTar)
    else await pipeline(source, measure, toTar)
  } catch (error) {
    streamError = error
    tar.kill('SIGKILL')
  }
  const code = await tarDone
  if (streamError) throw new FriendlyError(`could not unpack the layer ${blobFile}: ${(streamError as Error).message}`)
  if (code !== 0) throw new FriendlyError(`could not unpack the layer ${blobFile}: tar: ${firstLine(stderr) || `exit status ${code}`}`)
  return { diffId: `sha256:${hash.digest('hex')}`, bytes }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.replace(/^tar: /, '') ?? ''
}
