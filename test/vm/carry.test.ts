// The laptop -> VM carry-over (lib/vm/carry.ts), for real on both transports: tar and rsync run, the "VM" side runs
// through a stand-in `ssh` on PATH that executes the remote command locally (ssh itself is proven by test/vm/e2e.sh,
// which carries the repository into a real VM with no synced folder).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { carryToVm, localTree, planCarry, type Tree } from '../../lib/vm/carry.ts'

const tree = (entries: Record<string, [number, number]>): Tree =>
  new Map(Object.entries(entries).map(([f, [size, mtime]]) => [f, { size, mtime }]))

describe('what the carry-over sends', () => {
  it('sends new and changed files, skips equal ones', () => {
    const plan = planCarry(tree({ a: [1, 100], b: [2, 100], c: [3, 200] }), tree({ b: [2, 100], c: [3, 150] }), new Map())
    expect(plan).toEqual({ send: ['a', 'c'], remove: [], conflicts: [] })
  })

  it('never overwrites a file that is newer in the VM', () => {
    const plan = planCarry(tree({ 'steps/x.ts': [10, 100] }), tree({ 'steps/x.ts': [12, 300] }), tree({ 'steps/x.ts': [10, 100] }))
    expect(plan.send).toEqual([])
    expect(plan.conflicts).toEqual([{ file: 'steps/x.ts', why: 'newer in the VM than on the laptop' }])
  })

  it('deletes what the laptop deleted, only if it sent it and the VM did not change it since', () => {
    const sent = tree({ gone: [1, 100], edited: [1, 100] })
    const plan = planCarry(new Map(), tree({ gone: [1, 100], edited: [5, 400], 'made-in-vm': [1, 500] }), sent)
    expect(plan.remove).toEqual(['gone'])
    expect(plan.conflicts).toEqual([{ file: 'edited', why: 'deleted on the laptop, changed in the VM' }])
  })
})

describe.each(['tar', 'rsync'] as const)('carrying files over %s', (transport) => {
  let dir: string
  let laptop: string
  let vm: string
  let dot: string
  const saved = process.env.PATH
  const ssh = { file: '/dev/null', host: 'vm' }
  const carry = () => carryToVm(ssh, { vmRepo: vm, localRoot: laptop, dotfileDir: dot, machine: 'test', transport })
  const write = (file: string, text: string, mtime: number): void => {
    fs.mkdirSync(path.dirname(path.join(laptop, file)), { recursive: true })
    fs.writeFileSync(path.join(laptop, file), text)
    fs.utimesSync(path.join(laptop, file), mtime, mtime)
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-carry-'))
    laptop = path.join(dir, 'laptop')
    vm = path.join(dir, 'vm')
    dot = path.join(dir, 'dot')
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true })
    // `ssh [options] HOST COMMAND...` -> the command, run here.
    fs.writeFileSync(
      path.join(dir, 'bin', 'ssh'),
      '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -F|-o|-i|-p) shift 2 ;; -T|-tt) shift ;; *) shift; break ;; esac; done\nexec sh -c "$*"\n',
      { mode: 0o755 },
    )
    process.env.PATH = `${path.join(dir, 'bin')}:${saved}`
    write('package.json', '{}', 1_700_000_000)
    write('steps/01/main.ts', 'starter\n', 1_700_000_000)
    write('node_modules/x/index.js', 'never carried', 1_700_000_000)
    write('.git/HEAD', 'never carried', 1_700_000_000)
  })
  afterAll(() => {
    process.env.PATH = saved
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it.skipIf(transport === 'rsync' && spawnSync('rsync', ['--version']).status !== 0)('first round: everything but the per-machine folders, times kept', async () => {
    const result = await carry()
    expect(result).toMatchObject({ ok: true, sent: 2, removed: 0, transport })
    expect(fs.readFileSync(path.join(vm, 'steps/01/main.ts'), 'utf8')).toBe('starter\n')
    expect(fs.existsSync(path.join(vm, 'node_modules'))).toBe(false)
    expect(fs.existsSync(path.join(vm, '.git'))).toBe(false)
    expect(Math.floor(fs.statSync(path.join(vm, 'steps/01/main.ts')).mtimeMs / 1000)).toBe(1_700_000_000)
    expect(await carry()).toMatchObject({ ok: true, sent: 0, removed: 0 })
  })

  it.skipIf(transport === 'rsync' && spawnSync('rsync', ['--version']).status !== 0)('a file changed on the laptop goes over, alone; a deleted one goes away', async () => {
    write('steps/01/main.ts', 'TODO done\n', 1_700_000_100)
    write('steps/01/extra.ts', 'x', 1_700_000_100)
    expect(await carry()).toMatchObject({ ok: true, sent: 2 })
    expect(fs.readFileSync(path.join(vm, 'steps/01/main.ts'), 'utf8')).toBe('TODO done\n')
    fs.rmSync(path.join(laptop, 'steps/01/extra.ts'))
    fs.writeFileSync(path.join(vm, 'made-in-the-vm.txt'), 'keep me')
    expect(await carry()).toMatchObject({ ok: true, sent: 0, removed: 1 })
    expect(fs.existsSync(path.join(vm, 'steps/01/extra.ts'))).toBe(false)
    expect(fs.readFileSync(path.join(vm, 'made-in-the-vm.txt'), 'utf8')).toBe('keep me')
  })

  it.skipIf(transport === 'rsync' && spawnSync('rsync', ['--version']).status !== 0)('stops and names the file edited inside the VM, and overwrites nothing', async () => {
    fs.writeFileSync(path.join(vm, 'steps/01/main.ts'), 'edited in the VM\n')
    write('package.json', '{"changed": true}', 1_700_000_200)
    const result = await carry()
    expect(result.ok).toBe(false)
    expect(!result.ok && result.message).toMatch(/not overwriting the VM's copy of steps\/01\/main\.ts .*newer in the VM/)
    expect(!result.ok && result.message).toMatch(/vagrant ssh -c "rm .*steps\/01\/main\.ts"/)
    expect(fs.readFileSync(path.join(vm, 'steps/01/main.ts'), 'utf8')).toBe('edited in the VM\n')
    expect(fs.readFileSync(path.join(vm, 'package.json'), 'utf8')).toBe('{}')
  })

  it('skips a VM whose folder is a synced (mounted) folder', async () => {
    const shared = await carryToVm(ssh, { vmRepo: '/proc', localRoot: laptop, dotfileDir: dot, machine: 'test', transport })
    expect(shared).toMatchObject({ ok: true, shared: true, sent: 0 })
  })
})

it('the laptop tree leaves out node_modules anywhere and the per-machine folders at the top', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-tree-'))
  for (const f of ['a.ts', 'cache/x', 'sub/node_modules/y', 'sub/cache/z', '.vagrant/m']) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true })
    fs.writeFileSync(path.join(dir, f), '')
  }
  expect([...localTree(dir).keys()].sort()).toEqual(['a.ts', 'sub/cache/z'])
  fs.rmSync(dir, { recursive: true, force: true })
})
