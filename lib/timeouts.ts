// MINICONTAINER_TIMEOUT_SCALE multiplies every time limit of the checker and the tests: 8 in the CI's VM, which runs
// under software emulation where one engine run takes seconds. Below 1 it makes the checker's limits shorter (the
// mutant tests use it to catch a hang quickly); the tests' own limits never shrink (testTimeScale).

/** The scale as given: a positive number, 1 when unset or not a positive number. */
export function timeoutScale(env: NodeJS.ProcessEnv = process.env): number {
  const scale = Number(env.MINICONTAINER_TIMEOUT_SCALE)
  return Number.isFinite(scale) && scale > 0 ? scale : 1
}

/** For the tests' own limits: slow machines get more time, never less. */
export function testTimeScale(env: NodeJS.ProcessEnv = process.env): number {
  return Math.max(1, timeoutScale(env))
}
