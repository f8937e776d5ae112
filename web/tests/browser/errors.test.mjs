// Errors in plain words next to the field they are about: the API's 422 (an address it cannot
// fetch), the API's subtitle checks made as you type (a cue past the end of the video), a token
// the API refuses. Nothing is remembered for a request that was refused.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { assertClean, BASE_URL, fillTransition, openBrowser, openDashboard, screenshot } from './harness.mjs'

let browser
before(async () => { browser = await openBrowser() })
after(async () => { await browser?.close() })

/** The input's error message, checked to be next to it: same field, and named by aria-describedby. */
async function errorNextTo (input) {
  assert.equal(await input.getAttribute('aria-invalid'), 'true')
  const id = await input.getAttribute('aria-describedby')
  assert.ok(id, 'the input names its error message')
  const message = input.page().locator(`[id="${id}"]`)
  await message.waitFor()
  const sameField = await input.evaluate((element, messageId) => {
    const field = element.closest('.field, .subtitle-row')
    return Boolean(field && field.contains(document.getElementById(messageId)))
  }, id)
  assert.ok(sameField, 'the message is in the same field as the input')
  return (await message.innerText()).trim()
}

test("the API's 422 is shown next to the field it names", async () => {
  const page = await openDashboard(browser.context)
  await fillTransition(page)
  const front = page.getByLabel('Front image', { exact: true })
  await front.fill('ftp://example.com/front.jpg')
  await front.blur()
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/transitions/create-and-generate/'))
  await page.getByRole('button', { name: 'Generate', exact: true }).click()
  const response = await answered
  assert.equal(response.status(), 422)
  const detail = (await response.json()).detail
  assert.deepEqual(detail.map((item) => item.loc), [['body', 'front_image']])

  assert.equal(await errorNextTo(front), 'Only http:// and https:// addresses can be fetched: paste another address or upload a file.')
  assert.equal(await page.getByLabel('Tail image', { exact: true }).getAttribute('aria-invalid'), 'false')
  assert.match(await page.locator('.actions .error').innerText(), /Some fields need fixing/)
  assert.equal(await page.evaluate(() => localStorage.getItem('currentTaskId')), null)
  assert.equal(await page.getByRole('progressbar').count(), 0)
  await screenshot(page, 'dashboard-422')

  // Fixing the field clears its message.
  await front.fill(`${BASE_URL}/examples/front.jpg`)
  await front.blur()
  assert.equal(await front.getAttribute('aria-invalid'), 'false')
  await assertClean(page)
})

test('a subtitle past the end of the video is flagged as you type, and nothing is sent', async () => {
  const page = await openDashboard(browser.context)
  await fillTransition(page, { subtitles: [{ startTime: 4, endTime: 7, text: 'Too late' }] })
  const end = page.getByLabel('Subtitle 1 end (seconds)')
  assert.equal(await errorNextTo(end), 'Subtitle 1 ends at 7 s, after the end of the video (5 s).')

  let sent = 0
  page.on('request', (request) => { if (request.url().includes('/create-and-generate/')) sent++ })
  await page.getByRole('button', { name: 'Generate', exact: true }).click()
  await page.locator('.actions .error').waitFor()
  assert.equal(sent, 0, 'the API would refuse it: not sent')

  // A 10 s video has room for it.
  await page.getByLabel('Duration').selectOption('10')
  await page.waitForFunction(() => document.querySelector('[aria-label="Subtitle 1 end (seconds)"]').getAttribute('aria-invalid') === 'false')
  // A cue that ends before it starts.
  await page.getByLabel('Subtitle 1 start (seconds)').fill('8')
  assert.equal(await errorNextTo(page.getByLabel('Subtitle 1 start (seconds)')), 'Starts at 8 s but ends at 7 s: the start must come first.')
  await page.getByRole('button', { name: 'Remove subtitle 1' }).click()
  assert.equal(await page.locator('.subtitle-row').count(), 0)
  await assertClean(page)
})

test('a token the API refuses is said in words, and can be changed', async () => {
  const page = await openDashboard(browser.context, { token: 'vg_not_a_real_token' })
  await fillTransition(page)
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/transitions/create-and-generate/'))
  await page.getByRole('button', { name: 'Generate', exact: true }).click()
  assert.equal((await answered).status(), 401)
  assert.equal((await page.locator('.actions .error').innerText()).trim(), 'The token was not accepted. Enter a valid token above.')
  await page.getByRole('button', { name: 'Change token' }).click()
  await page.getByLabel('API token').waitFor()
  await assertClean(page)
})
