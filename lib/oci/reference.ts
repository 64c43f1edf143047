// Image references, as docker reads them: `[REGISTRY/]NAME[:TAG][@sha256:DIGEST]`.
//
//   alpine                          -> docker.io/library/alpine:latest
//   alpine:3.20                     -> docker.io/library/alpine:3.20
//   ghcr.io/owner/app@sha256:ab...  -> ghcr.io/owner/app@sha256:ab...
//   127.0.0.1:5000/test/alpine:1    -> a registry on this machine, which may speak plain HTTP
//
// The first part is a registry when it has a dot or a colon or is `localhost` (docker's rule, from the
// distribution project's reference grammar); otherwise the whole thing is a name on Docker Hub.
import { FriendlyError } from '../errors.ts'

export const DOCKER_HUB = 'docker.io'
/** Docker Hub's registry API is not at docker.io itself. */
const DOCKER_HUB_API = 'registry-1.docker.io'

export interface ImageReference {
  /** host[:port], e.g. docker.io, ghcr.io, 127.0.0.1:5000 */
  registry: string
  /** The repository, e.g. library/alpine */
  repository: string
  /** A tag (default latest) unless a digest was given. */
  tag: string | undefined
  /** sha256:HEX when the reference pins the content. */
  digest: string | undefined
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d{1,5})?$|^\[[0-9a-fA-F:.]+\](?::\d{1,5})?$/
const TAG = /^[\w][\w.-]{0,127}$/
const DIGEST = /^sha256:[0-9a-f]{64}$/

function invalid(text: string, why: string): FriendlyError {
  return new FriendlyError(`invalid image reference ${JSON.stringify(text)}: ${why}`, {
    hint: 'an image is [REGISTRY/]NAME[:TAG|@sha256:DIGEST], e.g. alpine:3.20, or 127.0.0.1:5000/test/alpine:1',
  })
}

/** Parses a reference with docker's defaults for what is left out. Throws a FriendlyError for a malformed one. */
export function parseReference(text: string): ImageReference {
  let rest = text.trim()
  if (!rest) throw invalid(text, 'empty')
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!DIGEST.test(digest)) throw invalid(text, `${JSON.stringify(digest)} is not a digest (sha256: and 64 lowercase hex digits)`)
  }
  let tag: string | undefined
  const lastColon = rest.lastIndexOf(':')
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1)
    rest = rest.slice(0, lastColon)
    if (!TAG.test(tag)) throw invalid(text, `${JSON.stringify(tag)} is not a tag (letters, digits, _ . -, at most 128)`)
  }
  let registry = DOCKER_HUB
  let repository = rest
  const slash = rest.indexOf('/')
  const first = slash === -1 ? '' : rest.slice(0, slash)
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first
    repository = rest.slice(slash + 1)
    if (!DOMAIN.test(registry)) throw invalid(text, `${JSON.stringify(registry)} is not a registry host[:port]`)
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`
  const components = repository.split('/')
  const bad = components.find((c) => !COMPONENT.test(c))
  if (bad !== undefined) {
    throw invalid(text, bad === '' ? 'an empty name' : `${JSON.stringify(bad)}: names are lowercase letters and digits, separated by . _ __ or -`)
  }
  if (repository.length > 255) throw invalid(text, 'the name is longer than 255 characters')
  if (!digest && !tag) tag = 'latest'
  return { registry, repository, tag, digest }
}

/** The full reference: registry/repository:tag or registry/repository@digest (both when both were given). */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`
}

/** As docker shows it: Docker Hub's registry and library/ left out (alpine:3.20). */
export function familiarName(ref: ImageReference): string {
  const name = ref.registry === DOCKER_HUB ? ref.repository.replace(/^library\//, '') : `${ref.registry}/${ref.repository}`
  return name
}

/** The repository as `images` lists it: familiarName without tag or digest. */
export function familiarReference(ref: ImageReference): string {
  return `${familiarName(ref)}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`
}

/** The host the registry API is served from (Docker Hub's is not docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry
}

/** host without the port and the brackets of an IPv6 address. */
export function hostName(registry: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(registry)
  if (bracketed) return bracketed[1]!
  return registry.replace(/:\d+$/, '')
}

/**
 * Like docker: a registry on this machine (localhost, 127.0.0.0/8, ::1) may speak plain HTTP; any other only when
 * named with --insecure-registry (host or host:port).
 */
export function mayUsePlainHttp(registry: string, insecureRegistries: readonly string[] = []): boolean {
  const host = hostName(registry).toLowerCase()
  if (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true
  return insecureRegistries.some((r) => r.toLowerCase() === registry.toLowerCase() || r.toLowerCase() === host)
}
