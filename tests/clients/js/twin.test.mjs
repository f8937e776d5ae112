// videoGenerationApi.js against a running twin (VIDEOGEN_URL, VIDEOGEN_TOKEN): a transition
// and a dream, concurrently, to a playable video. Started by tests/e2e/test_clients.py.
import assert from 'node:assert/strict'
import http from 'node:http'
import { describe, test } from 'node:test'

import {
  cancelTask,
  checkTaskStatus,
  checkVideoStatus,
  configure,
  createAndGenerateVideo,
  deleteTask,
  generateDreamVideo,
  getWebhookSecret,
  listTasks,
  pollTaskStatus,
  pollVideoStatus,
  verifyWebhook
} from '../../../clients/js/videoGenerationApi.js'

const baseUrl = process.env.VIDEOGEN_URL
configure({ baseUrl, token: process.env.VIDEOGEN_TOKEN })

async function fetchVideo (url) {
  const response = await fetch(url)
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('content-type'), 'video/mp4')
  const bytes = Buffer.from(await response.arrayBuffer())
  assert.ok(bytes.includes(Buffer.from('ftyp')), 'an MP4')
}

describe('against the twin', { concurrency: true }, () => {
  test('a transition, polled as the spec polls, ends with a video', async () => {
    const { task_id: taskId, status } = await createAndGenerateVideo({
      front_image: `${baseUrl}/examples/front.jpg`,
      tail_image: `${baseUrl}/examples/tail.jpg`,
      prompt: 'Dynamic video transition',
      duration: 5,
      transition_type: 'energetic'
    })
    assert.equal(status, 'pending')
    const seen = []
    const result = await pollTaskStatus(taskId, (s) => seen.push(s.state), 1000, 60)
    assert.equal(seen.at(-1), 'SUCCESS')
    assert.ok(seen.every((state) => ['PENDING', 'PROCESSING', 'SUCCESS'].includes(state)), seen.join())
    assert.equal(result.duration, 5)
    assert.equal(result.status, 'completed')
    await fetchVideo(result.video_url)
    assert.equal((await checkTaskStatus(taskId)).state, 'SUCCESS')
  })

  test('a dream, polled on video-status, ends with a video', async () => {
    const { task_id: taskId } = await generateDreamVideo('a lighthouse made of jelly', 'Animated')
    const done = await pollVideoStatus(taskId, undefined, { interval: 1000, backoff: 1 })
    assert.equal(done.status, 'completed')
    assert.equal(done.dream, 'a lighthouse made of jelly')
    await fetchVideo(done.video_url)
  })

  test('the controls: an idempotent submit, list, cancel, delete', async () => {
    const key = `js-${Date.now()}`
    const first = await generateDreamVideo('a clock that melts', 'Cursed', { idempotencyKey: key })
    const again = await generateDreamVideo('a clock that melts', 'Cursed', { idempotencyKey: key })
    assert.equal(again.task_id, first.task_id)
    assert.equal(again.replayed, true)
    assert.equal(first.replayed, undefined)
    const listed = await listTasks({ kind: 'dream', limit: 100 })
    assert.ok(listed.items.some((item) => item.task_id === first.task_id && item.kind === 'dream'))
    const canceled = await cancelTask(first.task_id).catch((error) => {
      assert.equal(error.status, 409) // finished before the cancel came: its state says so
      return error.task
    })
    assert.equal(canceled.ready, true)
    await deleteTask(first.task_id)
    await assert.rejects(checkVideoStatus(first.task_id), (error) => error.status === 404)
    await assert.rejects(cancelTask(first.task_id), (error) => error.status === 404)
  })

  test('a webhook reaches a receiver that checks its signature, after a 500', async () => {
    const { secret } = await getWebhookSecret()
    const received = []
    let answered = 0
    let done
    const delivered = new Promise((resolve) => { done = resolve })
    const receiver = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (chunk) => chunks.push(chunk))
      req.on('end', async () => {
        const body = Buffer.concat(chunks)
        received.push({ headers: req.headers, event: await verifyWebhook(body, req.headers, secret) })
        answered += 1
        res.writeHead(answered === 1 ? 500 : 204)
        res.end()
        if (answered === 2) done()
      })
    })
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${receiver.address().port}/hook`
    const { task_id: taskId } = await generateDreamVideo('a kite of fish', 'Animated', { webhookUrl: url })
    await delivered
    receiver.close()
    assert.equal(received.length, 2)
    assert.equal(received[0].headers['webhook-id'], received[1].headers['webhook-id'])
    const { event } = received[1]
    assert.equal(event.type, 'task.succeeded')
    assert.equal(event.data.task_id, taskId)
    assert.equal(event.data.kind, 'dream')
    // The delivery is recorded once the deliver function has read the answer: after the receiver sent it
    let status = await checkTaskStatus(taskId)
    for (let tries = 0; status.webhook.state !== 'delivered' && tries < 100; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      status = await checkTaskStatus(taskId)
    }
    assert.equal(status.webhook.state, 'delivered')
    assert.deepEqual(status.webhook.last_attempts.map((a) => a.status_code), [500, 204])
    await assert.rejects(verifyWebhook('{"tampered":true}', received[1].headers, secret), (error) => error.kind === 'webhook')
  })
})
