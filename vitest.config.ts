import { defineConfig } from 'vitest/config'
import { testTimeScale } from './lib/timeouts.ts'

// Slow machines (the CI's VM runs under software emulation) scale every time limit.
const scale = testTimeScale()

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // Tests start real containers with real memory and CPU limits: a few at a time, generous timeouts.
    // One file at a time: a checker test runs broken engines on purpose (mounts that leak for a moment),
    // which must not be mistaken for a leak of the engine test running beside it.
    fileParallelism: false,
    testTimeout: 60_000 * scale,
    hookTimeout: 120_000 * scale,
    globalSetup: ['test/global-setup.ts'],
    env: {
      // The tests' own rootfs home, installed offline from the shared Alpine fixture by global-setup.ts,
      // so a learner's installed rootfs is never touched.
      MINICONTAINER_HOME: '/var/tmp/minicontainer-test',
    },
  },
})
