// What every browser test needs: Debian's Chromium driven by playwright-core (no browser
// download), a fresh profile per browser, the twin's address and token (from the pytest side,
// tests/web/test_browser.py, which starts `videogen serve`), and helpers that wait on conditions.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { chromium } from 'playwright-core'

function required (name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run these tests through pytest (tests/web/test_browser.py)`)
  return value
}

export const BASE_URL = required('VIDEOGEN_URL')
export const TOKEN = required('VIDEOGEN_TOKEN')
export const CHROMIUM = required('VIDEOGEN_CHROMIUM')
export const SCREENSHOTS = process.env.VIDEOGEN_SCREENSHOTS || ''
export const REPORT = process.env.VIDEOGEN_WEB_REPORT || ''
export const ASSETS = new URL('../../../twin/assets/', import.meta.url).pathname
/** The twin's address under another name: another origin for the browser, the same server. */
export const OTHER_ORIGIN = BASE_URL.replace('//127.0.0.1:', '//localhost:')

/** How long a whole task may take on a loaded 2-core machine (it takes ~7 s idle). */
export const TASK_TIMEOUT = 180_000

// Without the background-networking flags Chromium floods the closed network with refused connections.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required'
]

/** A browser with a fresh profile; `close()` removes the profile. */
export async function openBrowser () {
  const profile = await mkdtemp(join(tmpdir(), 'videogen-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1100, height: 900 },
    timeout: 120_000
  })
  context.setDefaultTimeout(60_000)
  context.setDefaultNavigationTimeout(60_000)
  return {
    context,
    async close () {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    }
  }
}

/**
 * A page on the dashboard. Records uncaught errors (`page.errors`) and, from the first byte, every
 * change of the progress bar (`progressLog(page)`), so a test can see it move without sampling.
 */
export async function openDashboard (context, { token = TOKEN, origin = BASE_URL } = {}) {
  const page = await context.newPage()
  if (origin !== BASE_URL) {
    // The page on another origin than the API, as deployed (CloudFront vs API Gateway): its
    // config.json names the API, as the deployment writes it.
    await page.route(`${origin}/config.json`, (route) => route.fulfill({ json: { apiUrl: BASE_URL } }))
  }
  page.errors = []
  page.on('pageerror', (error) => page.errors.push(error.message))
  await page.addInitScript(() => {
    window.__cspViolations = []
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`)
    })
    window.__progress = []
    const record = () => {
      const bar = document.querySelector('[role="progressbar"]')
      const entry = bar
        ? { state: bar.closest('[data-state]')?.dataset.state ?? null, now: bar.getAttribute('aria-valuenow'), text: bar.getAttribute('aria-valuetext') }
        : null
      const last = window.__progress[window.__progress.length - 1]
      if (entry && JSON.stringify(entry) !== JSON.stringify(last)) window.__progress.push(entry)
    }
    new MutationObserver(record).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow', 'aria-valuetext', 'data-state'] })
  })
  const response = await page.goto(token ? `${origin}/#token=${encodeURIComponent(token)}` : `${origin}/`)
  // The page runs under the Content-Security-Policy it is deployed with (web/headers.json).
  if (!/script-src 'self'/.test(response.headers()['content-security-policy'] ?? '')) {
    throw new Error(`the page came without its Content-Security-Policy: ${JSON.stringify(response.headers())}`)
  }
  await page.getByRole('button', { name: 'Generate', exact: true }).waitFor()
  return page
}

export const progressLog = (page) => page.evaluate(() => window.__progress)

/** Nothing went wrong in the page: no uncaught error, nothing its security policy had to block. */
export async function assertClean (page) {
  const violations = await page.evaluate(() => window.__cspViolations)
  if (page.errors.length || violations.length) {
    throw new Error(`page errors: ${JSON.stringify(page.errors)}; CSP violations: ${JSON.stringify(violations)}`)
  }
}

export async function screenshot (page, name) {
  if (!SCREENSHOTS) return
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** The API, called from the test (not the page): to check what the page claims. */
export async function api (path, init = {}) {
  const response = await fetch(`${BASE_URL}${path}`, {
    ...init,
    headers: { Authorization: `Token ${TOKEN}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) }
  })
  return { status: response.status, body: await response.json().catch(() => null) }
}

export const taskStatus = (taskId) => api(`/api/transitions/task-status/${taskId}/`)

/** The Transition tab filled with the twin's example images (both by address, or the tail uploaded). */
export async function fillTransition (page, { uploadTail = false, subtitles = [], music = false } = {}) {
  await page.getByLabel('Front image', { exact: true }).fill(`${BASE_URL}/examples/front.jpg`)
  await page.getByLabel('Front image', { exact: true }).blur()
  if (uploadTail) {
    await page.getByLabel('Upload the last frame').setInputFiles(join(ASSETS, 'tail.jpg'))
    await page.waitForFunction(() => /^https?:\/\//.test(document.getElementById('tail_image-url').value))
  } else {
    await page.getByLabel('Tail image', { exact: true }).fill(`${BASE_URL}/examples/tail.jpg`)
    await page.getByLabel('Tail image', { exact: true }).blur()
  }
  await page.getByLabel('Prompt').fill('Dynamic video transition')
  await page.getByLabel('Duration').selectOption('5')
  await page.getByLabel('Transition type').selectOption('ENERGETIC')
  if (subtitles.length) {
    await page.getByLabel('Subtitles', { exact: true }).check()
    for (const [index, cue] of subtitles.entries()) {
      await page.getByRole('button', { name: 'Add subtitle' }).click()
      await page.getByLabel(`Subtitle ${index + 1} start (seconds)`).fill(String(cue.startTime))
      await page.getByLabel(`Subtitle ${index + 1} end (seconds)`).fill(String(cue.endTime))
      await page.getByLabel(`Subtitle ${index + 1} text`).fill(cue.text)
    }
  }
  if (music) {
    await page.getByLabel('Music', { exact: true }).check()
    await page.getByLabel('Music type').selectOption('ambient')
  }
  // Both previews show the images the model will get.
  await page.waitForFunction(() => [...document.querySelectorAll('.preview img')].filter((img) => img.complete && img.naturalWidth > 0).length === 2)
}

/** Play the video and wait until it really plays: enough data (readyState ≥ 3) and time advancing. */
export async function playsForReal (video, { timeout = 90_000 } = {}) {
  // Waits in the page for a condition; a media error or the deadline rejects with what was seen.
  const until = (condition, from = 0) => video.evaluate((element, { condition, from, timeout }) => new Promise((resolve, reject) => {
    const deadline = Date.now() + timeout
    const seen = () => `readyState ${element.readyState}, currentTime ${element.currentTime}, paused ${element.paused}`
    const check = () => {
      if (element.error) return reject(new Error(`the video failed: ${element.error.code} ${element.error.message}`))
      const met = condition === 'playing' ? element.readyState >= 3 && element.currentTime > 0.2 : element.currentTime > from + 0.3
      if (met) return resolve(element.currentTime)
      if (Date.now() > deadline) return reject(new Error(`the video did not play: ${seen()}`))
      setTimeout(check, 50)
    }
    check()
  }), { condition, from, timeout })
  await video.evaluate((element) => { element.muted = true; return element.play() })
  const first = await until('playing')
  const later = await until('advancing', first)
  return { first, later, readyState: await video.evaluate((element) => element.readyState) }
}

/** Show the frame at `seconds` (paused), for a screenshot that has a picture and a subtitle. */
export async function showFrame (video, seconds) {
  await video.evaluate((element, at) => new Promise((resolve) => {
    element.pause()
    element.addEventListener('seeked', () => resolve(), { once: true })
    element.currentTime = at
  }), seconds)
}
