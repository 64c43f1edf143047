// A real OCI registry on 127.0.0.1 for the tests and the checker: Debian's `docker-registry` package (the CNCF
// distribution registry, 2.8) with token authentication, its data in a temporary folder. Everything it does is on
// loopback, and stop() removes the process and its data (also when the caller dies: the registry gets SIGKILL
// from the kernel when its parent goes, and the next start removes folders whose owner is gone).
//
//   const registry = await startRegistry()
//   ... skopeo copy ... docker://127.0.0.1:PORT/name:tag, pulls ...
//   registry.blobRequests()   what was downloaded, from the registry's own access log
//   await registry.stop()
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { timeoutScale } from '../../lib/timeouts.ts'
import { ISSUER, SERVICE, startTokenIssuer, type TokenIssuer } from './token-issuer.ts'
import { isAlive } from '../../lib/pid.ts'

export interface AccessLogEntry {
  method: string
  /** The request path, e.g. /v2/test/alpine/blobs/sha256:... */
  path: string
  status: number
}

export interface LocalRegistry {
  /** host:port, e.g. 127.0.0.1:40123: image references start with it. */
  host: string
  /** The token server (its requests, the credentials that may push). */
  tokens: TokenIssuer
  /** The folder that holds the registry's data, config and keys. */
  dir: string
  /** Every request the registry answered so far (its access log), oldest first. */
  accessLog(): AccessLogEntry[]
  /** The GET requests for blobs so far: what clients downloaded. */
  blobRequests(): AccessLogEntry[]
  /** Where the registry keeps a blob on disk (to damage it on purpose). */
  blobFile(digest: string): string
  stop(): Promise<void>
}

const DIR_PREFIX = 'mc-registry-'
const running = new Set<LocalRegistry>()

/** Which program serves the registry: Debian's package calls it docker-registry, upstream's binary is registry. */
export function registryBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    for (const name of ['docker-registry', 'registry']) {
      const file = path.join(dir, name)
      try {
        fs.accessSync(file, fs.constants.X_OK)
        return file
      } catch {
        // not here
      }
    }
  }
  return undefined
}

/** What is missing on this machine to run a local registry, or undefined when nothing is. */
export function whyNoLocalRegistry(): string | undefined {
  const missing: string[] = []
  if (!registryBinary()) missing.push('docker-registry')
  for (const [program, pkg] of [['skopeo', 'skopeo'], ['openssl', 'openssl'], ['setpriv', 'util-linux']] as const) {
    if (!onPath(program)) missing.push(pkg)
  }
  return missing.length ? `the local test registry needs the Debian/Ubuntu packages: ${missing.join(' ')} (apt-get install ${missing.join(' ')})` : undefined
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      fs.accessSync(path.join(dir, program), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Folders of registries whose owner was killed before it could remove them. */
function removeStaleDirs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name)?.[1])
    if (pid && pid !== process.pid && !isAlive(pid)) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true })
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function config(dir: string, port: number, tokens: TokenIssuer): string {
  return `version: 0.1
log:
  level: error
  formatter: text
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(16).toString('hex')}
auth:
  token:
    realm: ${tokens.realm}
    service: ${SERVICE}
    issuer: ${ISSUER}
    rootcertbundle: ${tokens.certBundle}
`
}

// The access log is Apache's combined format: 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 123 "" "agent"
const ACCESS_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /

/** Starts a registry on a free port of 127.0.0.1 and waits until it answers. */
export async function startRegistry(options: { timeoutMs?: number } = {}): Promise<LocalRegistry> {
  const why = whyNoLocalRegistry()
  if (why) throw new Error(why)
  removeStaleDirs()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`))
  let tokens: TokenIssuer | undefined
  let child: ChildProcess | undefined
  const cleanup = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child!.once('exit', () => resolve()))
      child.kill('SIGKILL')
      await gone
    }
    await tokens?.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    tokens = await startTokenIssuer(dir)
    for (let attempt = 1; ; attempt++) {
      const port = await freePort()
      const configFile = path.join(dir, 'config.yml')
      fs.writeFileSync(configFile, config(dir, port, tokens))
      const log: string[] = []
      let output = ''
      // setpriv --pdeathsig: the kernel kills the registry if this process dies without stopping it.
      child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', registryBinary()!, 'serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
      const onData = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-64 * 1024)
        const lines = output.split('\n')
        output = lines.pop() ?? ''
        log.push(...lines)
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      const exited = new Promise<string>((resolve) => child!.once('exit', (code, signal) => resolve(`exited with ${signal ?? code}`)))
      const ready = await waitUntilAnswering(`http://127.0.0.1:${port}/v2/`, exited, options.timeoutMs ?? 15_000 * timeoutScale())
      if (ready === true) {
        const host = `127.0.0.1:${port}`
        const accessLog = () => log.flatMap((line) => {
          const m = ACCESS_LINE.exec(line)
          return m ? [{ method: m[1]!, path: m[2]!, status: Number(m[3]) }] : []
        })
        const registry: LocalRegistry = {
          host,
          tokens,
          dir,
          accessLog,
          blobRequests: () => accessLog().filter((e) => e.method === 'GET' && /\/blobs\/sha256:[0-9a-f]{64}$/.test(e.path)),
          blobFile: (digest) => {
            const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1]
            if (!hex) throw new Error(`not a sha256 digest: ${digest}`)
            return path.join(dir, 'data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')
          },
          stop: async () => {
            running.delete(registry)
            await cleanup()
          },
        }
        running.add(registry)
        return registry
      }
      const text = (log.join('\n') + output).trim()
      if (attempt < 3 && /address already in use/.test(text)) continue // another program took the port meanwhile
      throw new Error(`the local registry (${registryBinary()} serve) did not start: ${ready}${text ? `\n${text}` : ''}`)
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

/** Polls the registry's /v2/ until it answers (401: it wants a token) or the process exits. */
async function waitUntilAnswering(url: string, exited: Promise<string>, timeoutMs: number): Promise<true | string> {
  const deadline = Date.now() + timeoutMs
  let ended: string | undefined
  void exited.then((why) => (ended = why))
  while (Date.now() < deadline) {
    if (ended) return ended
    try {
      const response = await fetch(url)
      await response.body?.cancel()
      if (response.status === 401 || response.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return ended ?? `no answer at ${url} within ${timeoutMs / 1000} s`
}

/** Stops every registry this process started (Ctrl-C, a test that failed before its own stop). */
export async function stopAllRegistries(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop()))
}
