// The workshop box's pieces that need no VM: the catalog the build writes, the OVF checked with VirtualBox's reading
// rules (and the broken OVFs those rules catch), and the Vagrantfile's one message when the box cannot be had.
// Building and booting the box for real: test/vm/e2e.sh (and test/vm/boot-virtualbox-image.sh).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { buildCatalog } from '../../vagrant/box/catalog.ts'
import { checkOvf } from '../../vagrant/box/ovf-check.ts'

const root = path.resolve(import.meta.dirname, '../..')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-box-test-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe('the box catalog', () => {
  const info = (arch: string, version = '1.0.0') => ({
    name: 'minicontainer/workshop', version, recipe_hash: 'abc', arch, debian: '13.8', kernel: '6.12', node: '24.21.0', alpine: 'alpine.tar.gz',
    boxes: [
      { provider: 'virtualbox', file: `w-${version}-virtualbox-${arch}.box`, size: 1, sha256: `vb-${arch}` },
      { provider: 'libvirt', file: `w-${version}-libvirt-${arch}.box`, size: 1, sha256: `lv-${arch}` },
    ],
  })

  it('lists every provider and architecture with its URL and sha256, amd64 first (Vagrant 2.3 takes the first)', () => {
    const catalog = buildCatalog(undefined, [info('arm64'), info('amd64')], 'https://example.org/boxes/')
    expect(catalog.name).toBe('minicontainer/workshop')
    expect(catalog.versions).toHaveLength(1)
    const providers = catalog.versions[0]!.providers
    expect(providers.map((p) => `${p.architecture}/${p.name}`)).toEqual(['amd64/libvirt', 'amd64/virtualbox', 'arm64/libvirt', 'arm64/virtualbox'])
    expect(providers[0]).toEqual({
      name: 'libvirt', url: 'https://example.org/boxes/w-1.0.0-libvirt-amd64.box', checksum_type: 'sha256', checksum: 'lv-amd64', architecture: 'amd64', default_architecture: true,
    })
  })

  it('keeps the versions already published, newest first', () => {
    const old = buildCatalog(undefined, [info('amd64', '1.0.0')], 'file:///old')
    const both = buildCatalog(old, [info('amd64', '1.1.0')], 'file:///new')
    expect(both.versions.map((v) => v.version)).toEqual(['1.1.0', '1.0.0'])
    expect(both.versions[1]!.providers[0]!.url).toBe('file:///old/w-1.0.0-libvirt-amd64.box')
  })

  it('the committed catalog is valid and names the workshop box', () => {
    const catalog = JSON.parse(fs.readFileSync(path.join(root, 'vagrant/box/catalog.json'), 'utf8'))
    expect(catalog.name).toBe('minicontainer/workshop')
    expect(Array.isArray(catalog.versions)).toBe(true)
  })
})

describe("the VirtualBox image's OVF, read as VirtualBox reads it", () => {
  const vmdk = path.join(tmp, 'disk.vmdk')
  fs.writeFileSync(vmdk, 'x')
  const made = spawnSync('bash', [path.join(root, 'vagrant/box/ovf.sh'), '--name', 't', '--vmdk', vmdk, '--capacity-gib', '20', '--cpus', '2', '--memory', '2048', '--os-type', 'Debian_64'], { encoding: 'utf8' })
  const ovf = made.stdout

  it('the OVF the build writes: 2 CPUs, 2 GiB, the VMDK on SATA AHCI, an E1000 on NAT', () => {
    expect(made.status).toBe(0)
    const { problems, summary } = checkOvf(ovf)
    expect(problems).toEqual([])
    expect(summary).toEqual({ cpus: 2, memoryMiB: 2048, disks: [{ href: 'disk.vmdk', capacity: 20 * 2 ** 30, controller: 'SATA AHCI' }], nics: ['E1000 on NAT'], osType: 'Debian_64' })
  })

  // Each a mistake VirtualBox's reader throws on (or a box Vagrant could not boot): the check must catch every one.
  const mutants: [string, (x: string) => string, RegExp][] = [
    ['no disk format', (x) => x.replace(/ ovf:format="[^"]*"/, ''), /'format'/],
    ['a flat VMDK', (x) => x.replace('#streamOptimized', '#monolithicFlat'), /disk format/],
    ['no capacity', (x) => x.replace(/ ovf:capacity="\d+"/, ''), /'capacity'/],
    ['a disk file that is not referenced', (x) => x.replace('ovf:fileRef="file1"', 'ovf:fileRef="file9"'), /cannot find References\/File/],
    ['memory in GB', (x) => x.replace('<rasd:AllocationUnits>MegaBytes', '<rasd:AllocationUnits>GB'), /allocation unit/],
    ['a type-20 controller that is not AHCI', (x) => x.replace('<rasd:ResourceSubType>AHCI', '<rasd:ResourceSubType>LsiLogic'), /SATA AHCI controllers only/],
    ['the disk on a controller that does not exist', (x) => x.replace('<rasd:Parent>3</rasd:Parent>', '<rasd:Parent>7</rasd:Parent>'), /invalid parent 7/],
    ['the disk pointing at no disk', (x) => x.replace('/disk/vmdisk1', '/disk/vmdisk2'), /invalid host resource/],
    ['no NIC', (x) => x.replace(/<Item>\s*<rasd:AutomaticAllocation>[\s\S]*?<\/Item>/, ''), /no Ethernet adapter/],
    ['no OS id', (x) => x.replace('<OperatingSystemSection ovf:id="96">', '<OperatingSystemSection>'), /operating system section/],
    ['an OVF 2.0 namespace', (x) => x.replace('xmlns="http://schemas.dmtf.org/ovf/envelope/1"', 'xmlns="http://schemas.dmtf.org/ovf/envelope/2"'), /namespace/],
    ['not well-formed', (x) => x.replace('</DiskSection>', ''), /XML/],
  ]
  it.each(mutants)('catches: %s', (_, mutate, expected) => {
    const broken = mutate(ovf)
    expect(broken).not.toBe(ovf)
    expect(checkOvf(broken).problems.join('\n')).toMatch(expected)
  })
})

const vagrant = spawnSync('vagrant', ['plugin', 'list'], { encoding: 'utf8', timeout: 60_000 })
const hasLibvirtPlugin = vagrant.status === 0 && /vagrant-libvirt/.test(vagrant.stdout)

describe.skipIf(!hasLibvirtPlugin)('`vagrant up` when the workshop box cannot be had', () => {
  // Nothing is created: the Vagrantfile's trigger stops `vagrant up` before Vagrant downloads or defines anything.
  const up = (catalog: string, cache = path.join(tmp, 'no-cache')) => {
    const home = fs.mkdtempSync(path.join(tmp, 'vagrant-'))
    const result = spawnSync('vagrant', ['up', '--provider=libvirt', '--no-tty'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env, VAGRANT_HOME: path.join(home, 'home'), VAGRANT_DOTFILE_PATH: path.join(home, 'dot'), VAGRANT_CHECKPOINT_DISABLE: '1',
        MINICONTAINER_BOX_CATALOG: catalog, MINICONTAINER_BOX: '', MINICONTAINER_BOX_ARCH: 'amd64', MINICONTAINER_CACHE: cache,
      },
    })
    return { ...result, output: result.stdout + result.stderr, created: fs.existsSync(path.join(home, 'dot', 'machines', 'default', 'libvirt', 'id')) }
  }
  const threeWaysOut = (output: string): void => {
    expect(output.match(/Three ways out/g)).toHaveLength(1)
    expect(output).toContain('vagrant box add --name minicontainer/workshop /path/to/minicontainer-workshop-<version>-libvirt-amd64.box')
    expect(output).toContain('sudo npm run vm:box')
    expect(output).toContain('MINICONTAINER_BOX=bento/ubuntu-24.04 vagrant up')
    expect(output).not.toMatch(/\.rb:\d+:in /) // no Ruby stack trace
  }

  it('a catalog with no download yet: one message, the three ways out, nothing created', () => {
    const catalog = path.join(tmp, 'empty.json')
    fs.writeFileSync(catalog, JSON.stringify({ name: 'minicontainer/workshop', versions: [] }))
    const result = up(catalog)
    expect(result.status).toBe(1)
    expect(result.output).toMatch(/not on this machine, and its catalog \(.*empty\.json\) has no download for libvirt on amd64 yet/)
    threeWaysOut(result.output)
    expect(result.created).toBe(false)
  })

  it('a catalog whose URL is unreachable: the download failure, the same three ways out', () => {
    const catalog = path.join(tmp, 'unreachable.json')
    const box = { name: 'libvirt', url: 'http://127.0.0.1:9/minicontainer-workshop-1.0.0-libvirt-amd64.box', checksum_type: 'sha256', checksum: '0', architecture: 'amd64' }
    fs.writeFileSync(catalog, JSON.stringify({ name: 'minicontainer/workshop', versions: [{ version: '1.0.0', providers: [box] }] }))
    const result = up(catalog)
    expect(result.status).toBe(1)
    expect(result.output).toMatch(/its download failed \(http:\/\/127\.0\.0\.1:9\/.*refused/i)
    threeWaysOut(result.output)
    expect(result.created).toBe(false)
  })
  it('`npm run check` on a laptop with no VM and no box: one line, the three ways out', () => {
    const home = fs.mkdtempSync(path.join(tmp, 'laptop-'))
    const catalog = path.join(tmp, 'empty-for-check.json')
    fs.writeFileSync(catalog, JSON.stringify({ name: 'minicontainer/workshop', versions: [] }))
    const result = spawnSync(process.execPath, [path.join(root, 'test/vm/run-in-vm.ts'), 'check', 'step-01'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env, MINICONTAINER_FORCE_VM: '1', VAGRANT_HOME: path.join(home, 'home'), VAGRANT_DOTFILE_PATH: path.join(home, 'dot'),
        VAGRANT_DEFAULT_PROVIDER: 'libvirt', VAGRANT_CHECKPOINT_DISABLE: '1', MINICONTAINER_BOX_CATALOG: catalog, MINICONTAINER_BOX: '',
        MINICONTAINER_BOX_ARCH: 'amd64', MINICONTAINER_CACHE: path.join(tmp, 'no-cache'),
      },
    })
    expect(result.status).toBe(125)
    const lines = result.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^minicontainer: the workshop VM does not exist yet, and minicontainer\/workshop is not installed and the box catalog .* has no download for libvirt on amd64 yet: your instructor's box file: vagrant box add --name minicontainer\/workshop .*; or build it .*sudo npm run vm:box; or a public box: MINICONTAINER_BOX=bento\/ubuntu-24.04 vagrant up$/)
  })

  it('an offline copy in the cache folder: no message, `vagrant up` goes on offline (to the provider here, which has no daemon)', () => {
    const cache = fs.mkdtempSync(path.join(tmp, 'cache-'))
    fs.writeFileSync(path.join(cache, 'minicontainer-workshop-1.0.0-libvirt-amd64.box'), 'a stand-in: only its name counts here')
    const result = up(path.join(tmp, 'unreachable.json'), cache)
    expect(result.output).toContain('Running trigger')
    expect(result.output).not.toContain('Three ways out')
    expect(result.output).not.toContain('127.0.0.1:9')
    expect(result.created).toBe(false)
  })

})

describe("doctor's box source (lib/vm/advice.ts)", () => {
  const saved = { ...process.env }
  afterAll(() => {
    process.env = { ...saved }
  })

  it('the catalog: the newest version with a download for this provider and CPU, or why there is none', async () => {
    const { catalogEntry } = await import('../../lib/vm/advice.ts')
    const file = path.join(tmp, 'doctor-catalog.json')
    const provider = (name: string, architecture: string, url: string) => ({ name, architecture, url })
    fs.writeFileSync(file, JSON.stringify({
      name: 'minicontainer/workshop',
      versions: [
        { version: '1.0.0', providers: [provider('virtualbox', 'amd64', 'file:///old.box')] },
        { version: '1.2.0', providers: [provider('virtualbox', 'arm64', 'file:///arm.box'), provider('libvirt', 'amd64', 'file:///lv.box')] },
        { version: '1.1.0', providers: [provider('virtualbox', 'amd64', 'file:///new.box')] },
      ],
    }))
    process.env.MINICONTAINER_BOX_CATALOG = file
    expect(catalogEntry('virtualbox', 'amd64')).toEqual({ entry: { version: '1.1.0', provider: 'virtualbox', architecture: 'amd64', url: 'file:///new.box' } })
    expect(catalogEntry('virtualbox', 'arm64')).toMatchObject({ entry: { url: 'file:///arm.box' } })
    expect(catalogEntry('parallels', 'amd64')).toEqual({ problem: expect.stringMatching(/has no download for parallels on amd64 yet/) })
    process.env.MINICONTAINER_BOX_CATALOG = path.join(tmp, 'missing.json')
    expect(catalogEntry('virtualbox', 'amd64')).toEqual({ problem: expect.stringMatching(/cannot be read/) })
  })

  it('an offline copy in the cache folder: the newest version for this provider and CPU', async () => {
    const { cachedBox } = await import('../../lib/vm/advice.ts')
    const cache = fs.mkdtempSync(path.join(tmp, 'doctor-cache-'))
    for (const v of ['1.0.0', '1.10.0', '1.9.0']) fs.writeFileSync(path.join(cache, `minicontainer-workshop-${v}-virtualbox-amd64.box`), '')
    process.env.MINICONTAINER_CACHE = cache
    expect(cachedBox('virtualbox', 'amd64')).toBe(path.join(cache, 'minicontainer-workshop-1.10.0-virtualbox-amd64.box'))
    expect(cachedBox('libvirt', 'amd64')).toBeUndefined()
  })

  it('whether a download can be had: file:// exists, http answers (here: refused on loopback)', async () => {
    const { downloadProblem } = await import('../../lib/vm/advice.ts')
    const file = path.join(tmp, 'x.box')
    fs.writeFileSync(file, 'x')
    expect(await downloadProblem(`file://${file}`)).toBeUndefined()
    expect(await downloadProblem(`file://${file}.missing`)).toMatch(/no such file/)
    const http = await import('node:http')
    const server = http.createServer((req, res) => {
      if (req.url === '/ok.box' && req.headers.range === 'bytes=0-0') res.writeHead(206).end('x')
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    expect(await downloadProblem(`http://127.0.0.1:${port}/ok.box`)).toBeUndefined()
    expect(await downloadProblem(`http://127.0.0.1:${port}/gone.box`)).toMatch(/HTTP 404/)
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const nobody = (closed.address() as { port: number }).port
    await new Promise((resolve) => closed.close(resolve))
    expect(await downloadProblem(`http://127.0.0.1:${nobody}/ok.box`)).toMatch(/ECONNREFUSED/)
    expect(await downloadProblem('ftp://example/x.box')).toMatch(/not a file, http or https URL/)
  })
})
