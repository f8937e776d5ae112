// "My tasks" (GET /api/tasks/, issue 14's contract: { items, next_cursor }, items shaped like a
// task-status answer plus kind and created_at). While the API answers 404 the page hides the list.
// The list itself is exercised twice: with the list answered by this test inside the browser
// (tasks and status reads real), which runs today; and against the API's own route, which runs
// once the route exists (skipped, with the reason, while it answers 404).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { assertClean, api, openBrowser, openDashboard, playsForReal, screenshot, TASK_TIMEOUT, taskStatus } from './harness.mjs'
import { spec } from './request.mjs'

let browser
let listed
before(async () => {
  browser = await openBrowser()
  listed = await api('/api/tasks/?limit=1')
})
after(async () => { await browser?.close() })

const NO_ROUTE = 'GET /api/tasks/ answers 404 on this API (the list route is issue 14, not built yet): My tasks is hidden'

async function startTask () {
  const { status, body } = await api('/api/transitions/create-and-generate/', { method: 'POST', body: JSON.stringify(spec()) })
  assert.equal(status, 202, JSON.stringify(body))
  return body.task_id
}

async function finishedTask () {
  const taskId = await startTask()
  const deadline = Date.now() + TASK_TIMEOUT
  while (!(await taskStatus(taskId)).body.ready) {
    assert.ok(Date.now() < deadline, `task ${taskId} did not finish`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  return taskId
}

/** In My tasks: both rows, newest first; Open shows the finished one, Resume follows the running one to its video. */
async function useTheList (page, { finished, running }) {
  await page.getByRole('tab', { name: 'My tasks' }).click()
  const row = (taskId) => page.locator(`tr[data-task-id="${taskId}"]`)
  await row(running).waitFor()
  await row(finished).waitFor()
  const ids = await page.locator('tr[data-task-id]').evaluateAll((rows) => rows.map((r) => r.dataset.taskId))
  assert.ok(ids.indexOf(running) < ids.indexOf(finished), `newest first: ${ids}`)
  await screenshot(page, 'my-tasks')

  await row(finished).getByRole('button', { name: /^Open task/ }).click()
  const figure = page.locator('#panel-transition figure.result')
  await figure.waitFor()
  assert.equal(await figure.getAttribute('data-task-id'), finished)

  await page.getByRole('tab', { name: 'My tasks' }).click()
  await row(running).getByRole('button', { name: /^(Resume|Open) task/ }).click()
  await page.waitForFunction((id) => document.querySelector('#panel-transition figure.result')?.dataset.taskId === id, running, { timeout: TASK_TIMEOUT })
  const played = await playsForReal(page.locator('#panel-transition video'))
  assert.ok(played.readyState >= 3 && played.later > played.first, JSON.stringify(played))
}

test('no list route: the page hides My tasks', async (t) => {
  if (listed.status !== 404) return t.skip(`GET /api/tasks/ answers ${listed.status}: the route exists`)
  const page = await openDashboard(browser.context)
  const probed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/tasks/')
  await page.reload()
  assert.equal((await probed).status(), 404)
  await page.getByRole('tab', { name: 'Dream' }).waitFor()
  assert.equal(await page.getByRole('tab', { name: 'My tasks' }).count(), 0)
  assert.equal(await page.locator('#panel-tasks').count(), 0)
  await assertClean(page)
})

test('the list as the contract shapes it (answered in the browser): open a finished task, resume a running one', { timeout: 2 * TASK_TIMEOUT }, async () => {
  const finished = await finishedTask()
  const running = await startTask()
  const item = async (taskId, minutesAgo) => ({
    ...(await taskStatus(taskId)).body,
    kind: 'transition',
    created_at: new Date(Date.now() - minutesAgo * 60_000).toISOString()
  })
  const page = await openDashboard(browser.context)
  const lists = []
  await page.route((url) => url.pathname === '/api/tasks/', async (route) => {
    lists.push(new URL(route.request().url()).search)
    await route.fulfill({ json: { items: [await item(running, 0), await item(finished, 1)], next_cursor: null } })
  })
  await page.reload()
  await useTheList(page, { finished, running })
  assert.ok(lists.every((query) => query.startsWith('?limit=')), lists.join(' '))
  await assertClean(page)
})

test("My tasks on the API's own list route", { timeout: 2 * TASK_TIMEOUT }, async (t) => {
  if (listed.status === 404) return t.skip(NO_ROUTE)
  assert.equal(listed.status, 200, JSON.stringify(listed.body))
  const finished = await finishedTask()
  const running = await startTask()
  const page = await openDashboard(browser.context)
  await useTheList(page, { finished, running })
  await assertClean(page)
})
