// The dream tab (spec/dream-api.md) in Chromium against the twin: a dream and a style, the state
// shown while it runs, then the video plays.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { assertClean, api, openBrowser, openDashboard, playsForReal, progressLog, screenshot, showFrame, TASK_TIMEOUT } from './harness.mjs'

let browser
before(async () => { browser = await openBrowser() })
after(async () => { await browser?.close() })

test('a dream becomes a video that plays', { timeout: TASK_TIMEOUT + 60_000 }, async () => {
  const page = await openDashboard(browser.context)
  await page.getByRole('tab', { name: 'Dream' }).click()
  await page.getByRole('textbox', { name: 'Dream' }).fill('A whale floating over Paris at dawn')
  await page.getByLabel('Style').selectOption('Animated')
  const answered = page.waitForResponse((r) => r.url().includes('/generate-video?'))
  await page.getByRole('button', { name: 'Create the dream video' }).click()
  const response = await answered
  assert.equal(response.status(), 202)
  const query = new URL(response.url()).searchParams
  assert.deepEqual([query.get('dream'), query.get('style')], ['A whale floating over Paris at dawn', 'Animated'])
  const { task_id: taskId } = await response.json()
  await page.getByRole('progressbar', { name: 'Dream progress' }).waitFor()
  await screenshot(page, 'dream-progress')

  const video = page.locator('#panel-dream video')
  await video.waitFor({ timeout: TASK_TIMEOUT })
  const { body: status } = await api(`/video-status/${taskId}`)
  assert.equal(status.status, 'completed')
  assert.equal(new URL(await video.getAttribute('src')).pathname, new URL(status.video_url).pathname)
  const states = (await progressLog(page)).map((entry) => entry.state)
  assert.equal(states.at(-1), 'SUCCESS')
  assert.ok(states.includes('PENDING') || states.includes('PROCESSING'), JSON.stringify(states))
  const played = await playsForReal(video)
  assert.ok(played.readyState >= 3 && played.later > played.first, JSON.stringify(played))
  await showFrame(video, 2)
  await screenshot(page, 'dream-video')
  assert.equal(await page.evaluate(() => localStorage.getItem('currentDreamTaskId')), null)
  await assertClean(page)
})
