// The HTTP side of the OCI distribution protocol (a client of https://github.com/opencontainers/distribution-spec),
// with Node's fetch:
//
//   GET /v2/NAME/manifests/REF   an image index (one manifest per platform) or a manifest, by tag or digest
//   GET /v2/NAME/blobs/DIGEST    a config or a layer, by digest
//
// and the anonymous bearer-token flow every public registry uses: the first request gets
// `401` + `WWW-Authenticate: Bearer realm="https://auth...",service="...",scope="repository:NAME:pull"`; the client
// asks the realm for a token (GET realm?service=...&scope=...) and sends it as `Authorization: Bearer TOKEN`.
//
// This module moves bytes and says clearly what went wrong; it trusts none of them. Checking that the bytes are
// the ones asked for (their sha256) is the caller's job: that is what makes a registry's content trustworthy.
import { Readable } from 'node:stream'
import type { ReadableStream } from 'node:stream/web'
import { FriendlyError } from '../errors.ts'
import { apiHost, formatReference, mayUsePlainHttp, type ImageReference } from './reference.ts'

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const

/** An index (a list of manifests, one per platform) in either format. */
export const INDEX_TYPES: readonly string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]
/** One image's manifest (a config and its layers) in either format. */
export const MANIFEST_TYPES: readonly string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]
export const CONFIG_TYPES: readonly string[] = [MEDIA_TYPES.ociConfig, MEDIA_TYPES.dockerConfig]

/** A manifest is small; a registry that sends megabytes is broken or hostile. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** A request that receives nothing for this long fails, rather than hanging a class forever. */
const IDLE_TIMEOUT_MS = 30_000

export interface ManifestResponse {
  /** The bytes exactly as received: their sha256 is the manifest's digest. */
  body: Buffer
  /** Content-Type (or, when missing, the mediaType field of the body). */
  mediaType: string
  /** The digest the registry says the manifest has (Docker-Content-Digest), to compare with our own. */
  claimedDigest: string | undefined
}

export interface RegistryOptions {
  /** Registries (host or host:port) that may speak plain HTTP although they are not on this machine. */
  insecureRegistries?: readonly string[]
}

/** A challenge header: `Bearer realm="...",service="...",scope="..."` -> { scheme, params }. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = /^\s*(\S+)/.exec(header)?.[1] ?? ''
  const params: Record<string, string> = {}
  for (const m of header.slice(header.indexOf(scheme) + scheme.length).matchAll(/([a-zA-Z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1')
  }
  return { scheme: scheme.toLowerCase(), params }
}

/** Why fetch failed, in words: fetch itself only says "fetch failed"; the cause has the errno or the TLS error. */
function networkCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (error as Error).message
}

/** TLS answered by a server that speaks plain HTTP: what a registry without a certificate looks like. */
function looksLikePlainHttp(error: unknown): boolean {
  return /ERR_SSL|EPROTO|wrong version number|packet length too long|ECONNRESET/i.test(networkCause(error) + String((error as { cause?: Error }).cause?.message))
}

export class RegistryClient {
  readonly reference: ImageReference
  private readonly insecure: readonly string[]
  /** https://host or http://host, decided by the first request that reaches the registry. */
  private base: string | undefined
  private token: string | undefined

  constructor(reference: ImageReference, options: RegistryOptions = {}) {
    this.reference = reference
    this.insecure = options.insecureRegistries ?? []
  }

  private get name(): string {
    return formatReference(this.reference)
  }

  /** GET /v2/NAME/manifests/REF (a tag or a digest), asking for every manifest and index type we understand. */
  async manifest(ref: string): Promise<ManifestResponse> {
    const accept = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ')
    const response = await this.get(`/v2/${this.reference.repository}/manifests/${ref}`, accept, `manifest ${ref}`)
    const length = Number(response.headers.get('content-length'))
    if (length > MAX_MANIFEST_BYTES) throw new FriendlyError(`${this.name}: the manifest ${ref} is ${length} bytes, more than a manifest can be`)
    const body = Buffer.from(await response.arrayBuffer())
    if (body.length > MAX_MANIFEST_BYTES) throw new FriendlyError(`${this.name}: the manifest ${ref} is ${body.length} bytes, more than a manifest can be`)
    let mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim()
    if (!mediaType || mediaType === 'application/json') {
      try {
        mediaType = String(JSON.parse(body.toString('utf8')).mediaType ?? mediaType)
      } catch {
        // not JSON: the caller refuses it
      }
    }
    if (mediaType === MEDIA_TYPES.dockerSchema1 || mediaType === 'application/vnd.docker.distribution.manifest.v1+json') {
      throw new FriendlyError(`${this.name}: the registry only has an old Docker "schema 1" manifest for ${ref}`, {
        hint: 'schema 1 was retired in 2019 (no content digests for layers); push the image again with a current tool',
      })
    }
    return { body, mediaType, claimedDigest: response.headers.get('docker-content-digest') ?? undefined }
  }

  /**
   * GET /v2/NAME/blobs/DIGEST: the body as a stream of chunks, unverified. The registry may redirect to a storage
   * server (fetch follows, and drops our Authorization header on the way to another host).
   */
  async blob(digest: string): Promise<{ body: AsyncIterable<Buffer>; size: number | undefined }> {
    const abort = new AbortController()
    const response = await this.get(`/v2/${this.reference.repository}/blobs/${digest}`, '*/*', `blob ${digest}`, abort)
    const size = Number(response.headers.get('content-length')) || undefined
    return { body: this.idleGuard(Readable.fromWeb(response.body as ReadableStream), abort, digest), size }
  }

  /** Aborts a download that stalls, with a message that says so. */
  private async *idleGuard(stream: Readable, abort: AbortController, what: string): AsyncIterable<Buffer> {
    const timer = setTimeout(() => abort.abort(), IDLE_TIMEOUT_MS)
    try {
      for await (const chunk of stream) {
        timer.refresh()
        yield chunk as Buffer
      }
    } catch (error) {
      if (abort.signal.aborted) throw new FriendlyError(`${this.name}: downloading ${what} stalled: nothing received for ${IDLE_TIMEOUT_MS / 1000} s`)
      throw new FriendlyError(`${this.name}: downloading ${what} failed: ${networkCause(error)}`)
    } finally {
      clearTimeout(timer)
      stream.destroy()
    }
  }

  /** One GET with the scheme decided, the token attached, and one retry after a token challenge. */
  private async get(path: string, accept: string, what: string, abort = new AbortController()): Promise<Response> {
    const headers = (): Record<string, string> => ({ accept, ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) })
    let response = await this.send(path, headers(), abort)
    if (response.status === 401) {
      const challenge = response.headers.get('www-authenticate') ?? ''
      await response.body?.cancel()
      await this.authenticate(challenge)
      response = await this.send(path, headers(), abort)
    }
    if (response.ok) return response
    await response.body?.cancel()
    throw this.statusError(response, what)
  }

  private statusError(response: Response, what: string): FriendlyError {
    const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
    if (response.status === 404) {
      return new FriendlyError(`${this.name}: not found (${what}: ${status})`, {
        hint: 'check the name and the tag; a private image needs a login, which minicontainer does not do',
      })
    }
    if (response.status === 401 || response.status === 403) {
      return new FriendlyError(`${this.name}: access denied (${what}: ${status})`, {
        hint: 'the image is private or does not exist; minicontainer pulls public images only (anonymous tokens)',
      })
    }
    if (response.status === 429) {
      return new FriendlyError(`${this.name}: the registry limits how often you may pull (${status})`, { hint: 'wait a few minutes, or use a registry mirror' })
    }
    return new FriendlyError(`${this.name}: the registry answered ${status} for ${what}`)
  }

  /** Sends one request; the first one decides between https:// and (where allowed) http://. */
  private async send(path: string, headers: Record<string, string>, abort: AbortController): Promise<Response> {
    const host = apiHost(this.reference.registry)
    const timer = setTimeout(() => abort.abort(), IDLE_TIMEOUT_MS)
    try {
      if (this.base) return await fetch(this.base + path, { headers, signal: abort.signal })
      try {
        const response = await fetch(`https://${host}${path}`, { headers, signal: abort.signal })
        this.base = `https://${host}`
        return response
      } catch (error) {
        if (abort.signal.aborted) throw error
        if (!mayUsePlainHttp(this.reference.registry, this.insecure)) {
          const plain = looksLikePlainHttp(error)
          throw new FriendlyError(`${this.name}: could not reach https://${host}: ${networkCause(error)}`, {
            hint: plain
              ? `the registry seems to speak plain HTTP; only a registry on this machine may do that, unless you name it: --insecure-registry ${this.reference.registry}`
              : 'check the registry name and your network (a proxy? http_proxy and https_proxy are not used by the engine)',
          })
        }
        // Like docker: a registry on this machine (or named insecure) may speak plain HTTP.
        const response = await fetch(`http://${host}${path}`, { headers, signal: abort.signal })
        this.base = `http://${host}`
        return response
      }
    } catch (error) {
      if (error instanceof FriendlyError) throw error
      const why = abort.signal.aborted ? `nothing received for ${IDLE_TIMEOUT_MS / 1000} s` : networkCause(error)
      throw new FriendlyError(`${this.name}: could not reach the registry ${host}: ${why}`, {
        hint: 'is the registry running, and the name right?',
      })
    } finally {
      clearTimeout(timer)
    }
  }

  /** The token flow: ask the realm of a Bearer challenge for an anonymous token. */
  private async authenticate(challengeHeader: string): Promise<void> {
    const { scheme, params } = parseChallenge(challengeHeader)
    if (scheme !== 'bearer' || !params.realm) {
      throw new FriendlyError(`${this.name}: the registry wants ${scheme ? `"${scheme}"` : 'an unknown kind of'} authentication`, {
        hint: 'minicontainer pulls with anonymous bearer tokens only (as public registries offer); a login is not supported',
      })
    }
    let realm: URL
    try {
      realm = new URL(params.realm)
    } catch {
      throw new FriendlyError(`${this.name}: the registry's token realm ${JSON.stringify(params.realm)} is not a URL`)
    }
    if (realm.protocol === 'http:' && !mayUsePlainHttp(realm.host, this.insecure)) {
      throw new FriendlyError(`${this.name}: refusing to fetch a token over plain HTTP from ${realm.host}`, {
        hint: `only a token server on this machine may use plain HTTP, unless you name it: --insecure-registry ${realm.host}`,
      })
    }
    if (params.service) realm.searchParams.set('service', params.service)
    realm.searchParams.set('scope', params.scope || `repository:${this.reference.repository}:pull`)
    let response: Response
    try {
      response = await fetch(realm, { signal: AbortSignal.timeout(IDLE_TIMEOUT_MS) })
    } catch (error) {
      throw new FriendlyError(`${this.name}: could not reach the token server ${realm.host}: ${networkCause(error)}`)
    }
    const text = await response.text()
    if (!response.ok) throw new FriendlyError(`${this.name}: the token server ${realm.host} answered HTTP ${response.status}: ${text.slice(0, 200)}`)
    let token: unknown
    try {
      const json = JSON.parse(text) as { token?: unknown; access_token?: unknown }
      token = json.token ?? json.access_token
    } catch {
      // below
    }
    if (typeof token !== 'string' || !token) throw new FriendlyError(`${this.name}: the token server ${realm.host} sent no token`)
    this.token = token
  }
}
