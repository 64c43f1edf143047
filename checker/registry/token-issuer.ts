// The token server of the local test registry: what auth.docker.io is to Docker Hub. The registry answers an
// anonymous request with 401 and `WWW-Authenticate: Bearer realm=<this server>,service=...,scope=...`; a client
// asks this server for a token (GET realm?service=...&scope=...) and retries with `Authorization: Bearer TOKEN`.
//
// The token is a JWT the registry verifies itself (distribution 2.8, registry/auth/token/token.go): `iss` must be
// the configured issuer, `aud` the service, `exp`/`nbf` current (60 s leeway), and the signature must be by a key
// whose certificate chain (the `x5c` header) leads to a certificate in the registry's `rootcertbundle`. Its
// `access` claim lists what it allows: [{ type: 'repository', name, actions: ['pull', 'push'] }].
//
// Policy, like a public registry's: anyone may pull (an anonymous token), only the pusher's credentials may push.
import { execFileSync } from 'node:child_process'
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

export const SERVICE = 'minicontainer-test-registry'
export const ISSUER = 'minicontainer-test-issuer'

export interface TokenRequest {
  /** The `scope` parameters asked for, e.g. ["repository:test/alpine:pull"]. */
  scopes: string[]
  /** Whether the request carried the pusher's Basic credentials. */
  authenticated: boolean
  /** What the token allows, e.g. ["repository:test/alpine:pull"]. */
  granted: string[]
}

export interface TokenIssuer {
  /** The realm the registry sends clients to: http://127.0.0.1:PORT/token */
  realm: string
  /** The certificate bundle the registry trusts (the issuer's own self-signed certificate). */
  certBundle: string
  /** Basic credentials that may push ("user:password"), random per issuer. */
  pushCredentials: string
  /** Every token request so far, oldest first. */
  requests: TokenRequest[]
  close(): Promise<void>
}

/** A signing key and its self-signed certificate (openssl: Node can read certificates but not make them). */
function makeKeyAndCertificate(dir: string): { key: KeyObject; certDer: Buffer; certFile: string } {
  const keyFile = path.join(dir, 'token.key')
  const certFile = path.join(dir, 'token.crt')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${ISSUER}`, '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  const pem = fs.readFileSync(certFile, 'utf8')
  const base64 = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)![1]!.replace(/\s+/g, '')
  return { key: createPrivateKey(fs.readFileSync(keyFile)), certDer: Buffer.from(base64, 'base64'), certFile }
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url')

/** "repository:NAME:pull,push" -> the parts; other scope types (registry:catalog:*) are never granted. */
function parseScope(scope: string): { name: string; actions: string[] } | undefined {
  const match = /^repository:([^:]+):([a-z*,]+)$/.exec(scope)
  return match ? { name: match[1]!, actions: match[2]!.split(',') } : undefined
}

/** Starts the token server on 127.0.0.1 (a free port); its key and certificate go into `dir`. */
export async function startTokenIssuer(dir: string): Promise<TokenIssuer> {
  const { key, certDer, certFile } = makeKeyAndCertificate(dir)
  const pushCredentials = `pusher:${randomBytes(12).toString('hex')}`
  const requests: TokenRequest[] = []

  const issue = (access: { type: 'repository'; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000)
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }
    const claims = { iss: ISSUER, sub: '', aud: SERVICE, exp: now + 300, nbf: now - 5, iat: now, jti: randomBytes(8).toString('hex'), access }
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`
    // JOSE's ES256 signature is r || s (IEEE P1363), not the DER that crypto.sign makes by default.
    const signature = sign('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' })
    return `${signingInput}.${base64url(signature)}`
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (url.pathname !== '/token' || url.searchParams.get('service') !== SERVICE) {
      res.writeHead(404).end()
      return
    }
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const authenticated = basic !== undefined && Buffer.from(basic, 'base64').toString() === pushCredentials
    if (basic !== undefined && !authenticated) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"wrong credentials"}')
      return
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean)
    const access = scopes.flatMap((scope) => {
      const parsed = parseScope(scope)
      if (!parsed) return []
      const actions = parsed.actions.filter((a) => a === 'pull' || (authenticated && (a === 'push' || a === '*')))
      return actions.length ? [{ type: 'repository' as const, name: parsed.name, actions }] : []
    })
    requests.push({ scopes, authenticated, granted: access.map((a) => `repository:${a.name}:${a.actions.join(',')}`) })
    const token = issue(access)
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certBundle: certFile,
    pushCredentials,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
