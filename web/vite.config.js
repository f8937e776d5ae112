// The dashboard page: Vue 3 + Pinia, built by Vite into dist/ (served by the twin at /, deployed
// to S3 + CloudFront by infra/web.py). `~` is src/, as the transitions spec's imports expect
// (`~/stores/dashboardVideo`, `~/client/videoGenerationApi`).
import { fileURLToPath } from 'node:url'

import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

const src = fileURLToPath(new URL('./src', import.meta.url))
const repo = fileURLToPath(new URL('..', import.meta.url))

export default defineConfig({
  plugins: [vue()],
  resolve: { alias: { '~': src } },
  // Relative asset URLs: the page works wherever it is served from (the twin's /, a CloudFront
  // distribution, a sub-path).
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // One small bundle; no source maps shipped to users.
    sourcemap: false,
    reportCompressedSize: true
  },
  // The page imports the API module from clients/js (outside web/).
  server: { fs: { allow: [repo] } },
  test: {
    include: ['tests/unit/**/*.test.js'],
    environment: 'node',
    setupFiles: ['tests/unit/setup.js'],
    testTimeout: 30000
  }
})
