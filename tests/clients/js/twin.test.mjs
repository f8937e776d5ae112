// videoGenerationApi.js against a running twin (VIDEOGEN_URL, VIDEOGEN_TOKEN): a transition
// and a dream, concurrently, to a playable video. Started by tests/e2e/test_clients.py.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import {
  checkTaskStatus,
  configure,
  createAndGenerateVideo,
  generateDreamVideo,
  pollTaskStatus,
  pollVideoStatus
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
})
