// Step 08's network (solutions/08-networking), for real, in a test network of its own (checker/test-network.ts): the engine builds its bridge, veths
// and NAT rules inside a network namespace that plays "the host", next to another one that plays "the outside".
// The real host's links, routes, firewall and sysctls are compared before and after (and by global-setup.ts
// after the whole suite): any change fails loudly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import netModule from 'node:net'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { assertHostNetworkUnchanged, snapshotHostNetwork, type HostNetworkSnapshot } from '../checker/host-network.ts'
import { TestNetwork, TEST_NET, rulesNaming } from '../checker/test-network.ts'
import { GATEWAY } from '../lib/net/defaults.ts'
import { PROJECT_ROOT } from '../lib/steps.ts'
import { scaled, sleep } from './helpers/engine.ts'
import { skipUnlessRootOnLinux } from './helpers/requirements.ts'

/** A container started in the net, whose probe script prints lines and may wait on stdin. */
interface Container {
  child: ChildProcess
  lines: string[]
  /** Resolves with the first line matching `pattern` (rejects if the engine exits first). */
  waitFor(pattern: RegExp): Promise<string>
  /** Lets the script end (its `read` returns) and waits for the engine's exit status. */
  finish(): Promise<number>
  exited: Promise<number>
  stderr(): string
}

const running = new Set<ChildProcess>()

describe.skipIf(skipUnlessRootOnLinux())('step 08 network in a test network', () => {
  let net: TestNetwork
  const engineDir = path.join(PROJECT_ROOT, 'solutions', '08-networking')
  let realHost: HostNetworkSnapshot

  beforeAll(async () => {
    realHost = snapshotHostNetwork()
    net = await TestNetwork.create()
    await net.outside.listen(TEST_NET.serverAddress, 7000)
  })

  afterEach(async () => {
    for (const child of running) child.kill('SIGKILL')
    running.clear()
    // Between tests, as after every container: nothing of a container is left in the test network's host.
    await waitForNoLeftovers(net)
  })

  afterAll(async () => {
    await net?.close()
    assertHostNetworkUnchanged(realHost, 'the step 08 network tests')
  })

  function start(flags: string[], script: string): Container {
    const argv = net.wrap([process.execPath, path.join(engineDir, 'main.js'), 'run', ...flags, '--', '/bin/sh', '-c', script])
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...net.env() }, stdio: ['pipe', 'pipe', 'pipe'] })
    running.add(child)
    const lines: string[] = []
    let stderr = ''
    const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = []
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line)
      for (const w of waiters.filter((x) => x.pattern.test(line))) w.resolve(line)
    })
    child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')))
    child.stdin!.on('error', () => {})
    const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => {
      running.delete(child)
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15))
    }))
    return {
      child,
      lines,
      exited,
      stderr: () => stderr,
      waitFor: (pattern) => {
        const seen = lines.find((l) => pattern.test(l))
        if (seen) return Promise.resolve(seen)
        return Promise.race([
          new Promise<string>((resolve) => waiters.push({ pattern, resolve })),
          exited.then((code) => Promise.reject(new Error(`the engine exited (${code}) before printing ${pattern}:\n${lines.join('\n')}\n${stderr}`))),
          sleep(scaled(15_000)).then(() => Promise.reject(new Error(`no line ${pattern} within 15 s:\n${lines.join('\n')}\n${stderr}`))),
        ])
      },
      finish: () => {
        child.stdin!.end('\n')
        return exited
      },
    }
  }

  /** The container's address on eth0, as it sees it. */
  const PRINT_ADDRESS = `echo "addr=$(ip -4 addr show eth0 | sed -n 's/.*inet \\([0-9.]*\\)\\/.*/\\1/p')"`
  /** A TCP server on PORT answering TEXT to every client, ready before the script goes on. */
  const serve = (port: number, text: string) => `nc -lk -p ${port} -e echo ${text} & while ! netstat -ltn | grep -q ':${port} '; do sleep 0.05; done`

  test('the real-host guard notices a bridge, a table and ip_forward, loudly, and repairs them (tried in a test network of its own)', async () => {
    const own = await TestNetwork.create()
    const probe = own.wrap([process.execPath, path.join(PROJECT_ROOT, 'test', 'net', 'guard-probe.ts')])
    const r = spawnSync(probe[0]!, probe.slice(1), { encoding: 'utf8' })
    await own.close()
    expect(r.stdout).toMatch(/^THE REAL HOST'S NETWORK CHANGED during the guard probe/)
    expect(r.stdout).toMatch(/links: \+ \d+: mc0: /)
    expect(r.stdout).toMatch(/nft list ruleset: \+ table ip minicontainer/)
    expect(r.stdout).toMatch(/sysctls: \+ net\.ipv4\.ip_forward = 1/)
    expect(r.stdout).toMatch(/repaired: deleted the link mc0; deleted the nft table ip minicontainer; set net\.ipv4\.ip_forward back to 0/)
    expect(r.stdout).toMatch(/after: \["1: lo: [^"]*","\d+: up0@if\d+: [^"]*"\] ip_forward=0 nft=""/)
  })

  test('forwardLoopback: a server on the real host\'s 127.0.0.1 answers at the same address in the test network\'s host (step 09\'s registry)', async () => {
    const server = netModule.createServer((socket) => socket.end('the real host\'s loopback\n'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    const port = (server.address() as netModule.AddressInfo).port
    try {
      // Two loopbacks: before the forward, nothing listens on the port in the test network's host.
      expect((await net.host.connect('127.0.0.1', port)).ok).toBe(false)
      await net.forwardLoopback(port)
      const r = await net.host.connect('127.0.0.1', port)
      expect(r.error).toBeUndefined()
      expect(r.data).toBe('the real host\'s loopback\n')
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  test('the container reaches the bridge and a server in the outside, which sees the host\'s address (masquerade)', async () => {
    const c = start([], `${PRINT_ADDRESS}; ping -c 1 -W 2 ${GATEWAY} >/dev/null && echo gateway=ok; echo hello | nc -w 3 ${TEST_NET.serverAddress} 7000; echo "routes=$(ip route | tr '\\n' ';')"`)
    expect(await c.exited, c.stderr()).toBe(0)
    const address = /^addr=(\S+)$/m.exec(c.lines.join('\n'))?.[1]
    expect(address).toMatch(/^10\.99\.0\.\d+$/)
    expect(c.lines).toContain('gateway=ok')
    // What the server out there saw: the host's address, not the container's.
    expect(c.lines).toContain(`peer=${TEST_NET.hostAddress}`)
    expect(c.lines.join('\n')).toMatch(/routes=default via 10\.99\.0\.1 dev eth0/)
    // And the kernel's connection tracking in the host says the same: original source, translated reply.
    const tracked = net.conntrack().find((c) =>
      c.original.src === address && c.original.dst === TEST_NET.serverAddress && c.original.dport === 7000)
    expect(tracked?.reply, JSON.stringify(net.conntrack())).toMatchObject({
      src: TEST_NET.serverAddress, dst: TEST_NET.hostAddress, sport: 7000,
    })
  })

  test('--publish: the host itself (127.0.0.1 and its own address) and the outside reach a server in the container', async () => {
    const token = `tok${Date.now()}`
    const hostPort = 20_000 + Math.floor(Math.random() * 20_000)
    const c = start(['--publish', `${hostPort}:80`], `${serve(80, token)}; echo ready; read _`)
    await c.waitFor(/^ready$/)
    for (const [who, agent, target] of [
      ['the host, to 127.0.0.1 (OUTPUT chain, route_localnet)', net.host, '127.0.0.1'],
      ['the host, to its own address (OUTPUT chain)', net.host, TEST_NET.hostAddress],
      ['the outside, to the host\'s address (PREROUTING chain)', net.outside, TEST_NET.hostAddress],
    ] as const) {
      const r = await agent.connect(target, hostPort, { timeoutMs: scaled(3000) })
      expect(r.data.trim(), `${who}: ${JSON.stringify(r)}`).toBe(token)
    }
    // An unpublished port of the container stays closed to the outside, even with a route to the container.
    const address = net.leftovers().rules.map((l) => /dnat to (\S+):80/.exec(l)?.[1]).find(Boolean)!
    expect(address).toMatch(/^10\.99\.0\.\d+$/)
    const direct = await net.outside.connect(address, 80, { timeoutMs: 1000 })
    expect(direct.ok, JSON.stringify(direct)).toBe(false)
    expect(await c.finish(), c.stderr()).toBe(0)
  })

  test('two containers reach each other over the bridge; after both exit no veth, lease or rule is left', async () => {
    const a = start(['--publish', '18080:80'], `${serve(9000, 'from-a')}; ${PRINT_ADDRESS}; echo ready; read _`)
    const addressA = (await a.waitFor(/^addr=/)).slice(5)
    await a.waitFor(/^ready$/)
    const b = start([], `${PRINT_ADDRESS}; echo x | nc -w 3 ${addressA} 9000; echo ready; read _`)
    await b.waitFor(/^ready$/)
    const addressB = /^addr=(\S+)$/m.exec(b.lines.join('\n'))?.[1]
    expect(addressB).not.toBe(addressA)
    expect(b.lines).toContain('from-a')
    // While they run: two veths on the bridge, two leases, the rules naming each address.
    const during = net.leftovers()
    expect(during.links).toHaveLength(2)
    expect(during.leases.sort()).toEqual([addressA, addressB].sort())
    expect(rulesNaming(net.ruleset(), addressA).length).toBeGreaterThanOrEqual(2) // masquerade + DNAT
    expect(rulesNaming(net.ruleset(), addressB).length).toBeGreaterThanOrEqual(1)
    expect(await a.finish()).toBe(0)
    expect(await b.finish()).toBe(0)
    expect(net.leftovers()).toEqual({ links: [], leases: [], rules: [] })
  })

  test('engines starting at the same moment get different addresses (the lease lock)', async () => {
    const containers = Array.from({ length: 4 }, () => start([], `${PRINT_ADDRESS}; echo ready; read _`))
    const addresses = await Promise.all(containers.map(async (c) => (await c.waitFor(/^addr=/)).slice(5)))
    expect(new Set(addresses).size, addresses.join(' ')).toBe(4)
    expect((await Promise.all(containers.map((c) => c.finish()))).every((s) => s === 0)).toBe(true)
  })

  test('a published port is taken once: a second container asking for it is refused', async () => {
    const a = start(['--publish', '18081:80'], 'echo ready; read _')
    await a.waitFor(/^ready$/)
    const b = start(['--publish', '18081:81'], 'echo should-not-run')
    expect(await b.exited).toBe(125)
    expect(b.stderr()).toMatch(/port 18081\/tcp is already published by the container at 10\.99\.0\.\d+/)
    expect(b.lines).toEqual([])
    expect(await a.finish()).toBe(0)
  })

  test('npm run net:reset removes the bridge, the table and the leftovers, and puts ip_forward back', async () => {
    const a = start([], 'echo ready')
    expect(await a.exited).toBe(0)
    expect(net.host.exec(['cat', '/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1')
    expect(net.ruleset()).toMatch(/table ip minicontainer/)
    const reset = path.join(PROJECT_ROOT, 'lib', 'net', 'reset.ts')
    const argv = net.wrap([process.execPath, reset])
    const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ...net.env() }, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/deleted the bridge mc0/)
    expect(net.ruleset().trim()).toBe('')
    expect(JSON.parse(net.host.exec(['ip', '-j', 'link', 'show'])).map((l: { ifname: string }) => l.ifname).sort()).toEqual(['lo', TEST_NET.uplink])
    expect(net.host.exec(['cat', '/proc/sys/net/ipv4/ip_forward']).trim()).toBe('0')
    // And the next container builds it all again.
    const b = start([], `ping -c 1 -W 2 ${GATEWAY} >/dev/null && echo gateway=ok`)
    expect(await b.exited, b.stderr()).toBe(0)
    expect(b.lines).toContain('gateway=ok')
  })

  test('the table comes back when it went missing while the bridge stayed (nft flush ruleset, say)', async () => {
    expect(await start([], 'true').exited).toBe(0)
    net.host.exec(['nft', 'delete', 'table', 'ip', 'minicontainer'])
    const c = start([], `echo x | nc -w 3 ${TEST_NET.serverAddress} 7000`)
    expect(await c.exited, c.stderr()).toBe(0)
    expect(c.lines).toContain(`peer=${TEST_NET.hostAddress}`)
    expect(net.ruleset()).toMatch(/chain outbound/)
  })

  test('an engine killed with SIGKILL leaves its lease and rules; the next start removes them', async () => {
    const a = start(['--publish', '18082:80'], `${PRINT_ADDRESS}; echo ready; read _`)
    const address = (await a.waitFor(/^addr=/)).slice(5)
    await a.waitFor(/^ready$/)
    a.child.kill('SIGKILL')
    await a.exited
    await sleep(200) // init dies of PDEATHSIG, and its namespace with it
    const left = net.leftovers()
    expect(left.leases).toEqual([address])
    expect(left.rules.length).toBeGreaterThanOrEqual(2)
    const b = start([], 'true')
    expect(await b.exited, b.stderr()).toBe(0)
    expect(net.leftovers()).toEqual({ links: [], leases: [], rules: [] })
  })
})

async function waitForNoLeftovers(net: TestNetwork): Promise<void> {
  // A killed engine's container goes a moment later; then one more short run sweeps what its engine left.
  for (let i = 0; i < 20; i++) {
    const left = net.leftovers()
    if (!left.links.length && !left.leases.length && !left.rules.length) return
    await sleep(100)
  }
  expect(net.leftovers(), 'left in the net\'s host after the test').toEqual({ links: [], leases: [], rules: [] })
}

describe.skipIf(skipUnlessRootOnLinux())('the checker runs engines in a test network (MINICONTAINER_TEST_NETWORK=1 for earlier steps)', () => {
  const CHECKER = path.join(PROJECT_ROOT, 'checker', 'main.ts')
  const progress = path.join(os.tmpdir(), `mc-test-progress-net-${process.pid}.json`)
  async function check(args: string[]): Promise<{ id: string; passed: boolean; got?: string }[]> {
    const r = spawnSync(process.execPath, [CHECKER, '4', '--json', ...args], {
      env: { ...process.env, MINICONTAINER_TEST_NETWORK: '1', MINICONTAINER_PROGRESS: progress },
      encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: scaled(240_000),
    })
    return (JSON.parse(r.stdout) as { checks: { id: string; passed: boolean; got?: string }[] }).checks
  }
  let realHost: HostNetworkSnapshot
  beforeAll(() => void (realHost = snapshotHostNetwork()))
  afterAll(() => {
    fs.rmSync(progress, { force: true })
    assertHostNetworkUnchanged(realHost, 'the checker runs in test networks')
  })

  test('solutions/04-network passes every check of steps 01-04 there: the wrapper changes nothing else', async () => {
    const failed = (await check(['--solution'])).filter((c) => !c.passed)
    expect(failed).toEqual([])
  }, 240_000)
})
