// videoGenerationApi.js against a scripted HTTP server: the spec's failure, timeout, HTTP-error
// and network-error messages, the dream pair, and resuming with an injected storage.
// Run: node --test tests/clients/js/scripted.test.mjs (the pytest suite does, in tests/clients).
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, beforeEach, describe, test } from 'node:test'

import {
  checkTaskStatus,
  checkVideoStatus,
  configure,
  createAndGenerateVideo,
  CURRENT_TASK_KEY,
  generateDreamVideo,
  generateVideo,
  listTasks,
  pendingTask,
  pollTaskStatus,
  pollVideoStatus,
  rememberTask,
  resumePendingTask,
  uploadImage
} from '../../../clients/js/videoGenerationApi.js'
import { startScriptedServer } from '../../../web/tests/unit/scripted-server.js'

const TASK = 'arn:aws:states:us-east-1:123456789012:execution:videogen-video-generation:f7c3e8d1-9a2b-4c5d-8e7f-1a2b3c4d5e6f'
const STATUS_PATH = `/api/transitions/task-status/${TASK}/`
const RESULT = { transition_id: 123, video_url: 'https://example.com/v.mp4', status: 'completed' }
const pending = { task_id: TASK, state: 'PENDING', ready: false, info: null }
const processing = { task_id: TASK, state: 'PROCESSING', ready: false, info: { current: 1, total: 100, status: 'Processing frames...' } }
const success = { task_id: TASK, state: 'SUCCESS', ready: true, result: RESULT }
const failure = { task_id: TASK, state: 'FAILURE', ready: true, error: 'Failed to process video: Invalid image format' }

// The scripted server the page's unit tests use too (one harness, not two).
let scripted
const answer = (body, status = 200) => ({ status, body })
const memoryStorage = (initial = {}) => {
  const items = new Map(Object.entries(initial))
  return {
    items,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key)
  }
}

before(async () => {
  scripted = await startScriptedServer()
})
after(() => scripted.close())
beforeEach(() => {
  scripted.reset()
  configure({ baseUrl: `${scripted.url}/`, token: 'vg_test' })
})

describe('the transitions spec', () => {
  test('success: every poll response goes to onStatus, the result resolves', async () => {
    scripted.set(`GET ${STATUS_PATH}`, [answer(pending), answer(processing), answer(success)])
    const seen = []
    const result = await pollTaskStatus(TASK, (status) => seen.push(status), 5, 10)
    assert.deepEqual(result, RESULT)
    assert.deepEqual(seen, [pending, processing, success])
    assert.equal(scripted.requests[0].headers.authorization, 'Token vg_test')
    assert.equal(scripted.requests[0].url, STATUS_PATH, 'the ARN is sent with its colons')
  })

  test('FAILURE rejects with the task error, after onStatus saw it', async () => {
    scripted.set(`GET ${STATUS_PATH}`, [answer(pending), answer(failure)])
    const seen = []
    await assert.rejects(pollTaskStatus(TASK, (s) => seen.push(s.state), 5, 10), (error) => {
      assert.equal(error.message, 'Failed to process video: Invalid image format')
      assert.equal(error.kind, 'failure')
      return true
    })
    assert.deepEqual(seen, ['PENDING', 'FAILURE'])
  })

  test('maxAttempts polls, then the timeout message', async () => {
    scripted.set(`GET ${STATUS_PATH}`, [answer(processing)])
    let calls = 0
    await assert.rejects(pollTaskStatus(TASK, () => calls++, 5, 3), {
      message: 'Task polling timeout - maximum attempts reached'
    })
    assert.equal(calls, 3)
    assert.equal(scripted.requests.length, 3)
  })

  test('HTTP 500 while polling: Request failed with status 500', async () => {
    scripted.set(`GET ${STATUS_PATH}`, [answer(pending), answer({ detail: 'Internal server error' }, 500)])
    await assert.rejects(pollTaskStatus(TASK, undefined, 5, 10), (error) => {
      assert.equal(error.message, 'Request failed with status 500')
      assert.equal(error.status, 500)
      assert.equal(error.kind, 'http')
      return true
    })
  })

  test('a refused connection: Network Error', async () => {
    const closed = http.createServer()
    await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = closed.address().port
    await new Promise((resolve) => closed.close(resolve))
    configure({ baseUrl: `http://127.0.0.1:${port}` })
    await assert.rejects(checkTaskStatus(TASK), { message: 'Network Error', kind: 'network' })
    await assert.rejects(pollTaskStatus(TASK, undefined, 5, 3), { message: 'Network Error' })
  })

  test('createAndGenerateVideo posts the params; a 422 carries its detail', async () => {
    const detail = [{ loc: ['body', 'duration'], msg: 'duration must be 5 or 10 seconds', type: 'duration_not_allowed' }]
    scripted.set('POST /api/transitions/create-and-generate/', [
      answer({ task_id: TASK, status: 'pending', message: 'Transition creation and video generation started' }, 202),
      answer({ detail }, 422)
    ])
    const params = { front_image: 'https://example.com/front.jpg', tail_image: 'https://example.com/tail.jpg', duration: 5 }
    const accepted = await createAndGenerateVideo(params)
    assert.equal(accepted.task_id, TASK)
    assert.deepEqual(JSON.parse(scripted.requests[0].body), params)
    assert.equal(scripted.requests[0].headers['content-type'], 'application/json')
    await assert.rejects(createAndGenerateVideo({ ...params, duration: 7 }), (error) => {
      assert.equal(error.message, 'Request failed with status 422')
      assert.deepEqual(error.detail, detail)
      return true
    })
  })
})

describe('the dream pair', () => {
  test('generateDreamVideo sends dream and style as the query; checkVideoStatus reads', async () => {
    scripted.set('POST /generate-video', [answer({ task_id: TASK, status: 'pending' }, 202)])
    scripted.set(`GET /video-status/${TASK}`, [answer({ task_id: TASK, status: 'processing' })])
    assert.deepEqual(await generateDreamVideo('a whale over Paris', 'Animated'), { task_id: TASK, status: 'pending' })
    const query = new URL(scripted.requests[0].url, 'http://x').searchParams
    assert.equal(query.get('dream'), 'a whale over Paris')
    assert.equal(query.get('style'), 'Animated')
    assert.equal((await checkVideoStatus(TASK)).status, 'processing')
  })

  test('pollVideoStatus: completed resolves, failed rejects with its error', async () => {
    const done = { task_id: TASK, status: 'completed', video_url: 'https://example.com/d.mp4', error: null }
    scripted.set(`GET /video-status/${TASK}`, [answer({ task_id: TASK, status: 'pending' }), answer(done)])
    assert.deepEqual(await pollVideoStatus(TASK, undefined, { interval: 5 }), done)
    scripted.set(`GET /video-status/${TASK}`, [answer({ task_id: TASK, status: 'failed', error: 'The model gave up' })])
    await assert.rejects(pollVideoStatus(TASK, undefined, { interval: 5 }), { message: 'The model gave up' })
  })
})

describe('resume polling after a page refresh', () => {
  test('generateVideo remembers the task while it runs and forgets it when done', async () => {
    scripted.set('POST /api/transitions/create-and-generate/', [answer({ task_id: TASK, status: 'pending' }, 202)])
    scripted.set(`GET ${STATUS_PATH}`, [answer(processing), answer(success)])
    const storage = memoryStorage()
    const stored = []
    const result = await generateVideo({ front_image: 'a', tail_image: 'b' }, () => stored.push(storage.getItem(CURRENT_TASK_KEY)), { storage, interval: 5 })
    assert.deepEqual(result, RESULT)
    assert.deepEqual(stored, [TASK, TASK])
    assert.equal(pendingTask({ storage }), null)
  })

  test('a stored task is polled to its result, then removed', async () => {
    scripted.set(`GET ${STATUS_PATH}`, [answer(processing), answer(success)])
    const storage = memoryStorage()
    rememberTask(TASK, { storage })
    assert.equal(storage.getItem('currentTaskId'), TASK, 'the key of the spec')
    assert.deepEqual(await resumePendingTask(undefined, { storage, interval: 5 }), RESULT)
    assert.equal(storage.items.size, 0)
  })

  test('nothing stored: resolves null without a request', async () => {
    assert.equal(await resumePendingTask(undefined, { storage: memoryStorage(), interval: 5 }), null)
    assert.equal(scripted.requests.length, 0)
  })

  test('a failed task is forgotten; a timed-out one is kept for the next load', async () => {
    scripted.set(`GET ${STATUS_PATH}`, [answer(failure)])
    const failed = memoryStorage({ currentTaskId: TASK })
    await assert.rejects(resumePendingTask(undefined, { storage: failed, interval: 5 }), { message: failure.error })
    assert.equal(failed.items.size, 0)

    scripted.set(`GET ${STATUS_PATH}`, [answer(processing)])
    const running = memoryStorage({ currentTaskId: TASK })
    await assert.rejects(resumePendingTask(undefined, { storage: running, interval: 5, maxAttempts: 2 }), {
      message: 'Task polling timeout - maximum attempts reached'
    })
    assert.equal(running.getItem('currentTaskId'), TASK)
  })

  test('localStorage is the default storage', async () => {
    const storage = memoryStorage({ currentTaskId: TASK })
    globalThis.localStorage = storage
    try {
      scripted.set(`GET ${STATUS_PATH}`, [answer(success)])
      assert.deepEqual(await resumePendingTask(undefined, { interval: 5 }), RESULT)
      assert.equal(storage.items.size, 0)
    } finally {
      delete globalThis.localStorage
    }
  })
})

describe('uploads and the task list', () => {
  test('uploadImage asks for a presigned PUT, then PUTs the file there without the token', async () => {
    const base = scripted.url
    const ticket = {
      upload_url: `${base}/bucket/uploads/dev/1.png?X-Amz-Signature=abc`,
      method: 'PUT',
      headers: { 'Content-Type': 'image/png' },
      file_url: `${base}/bucket/uploads/dev/1.png?X-Amz-Signature=get`,
      expires_in: 3600
    }
    scripted.set('POST /api/uploads/', [answer(ticket)])
    scripted.set('PUT /bucket/uploads/dev/1.png', [answer({})])
    const file = new File([new Uint8Array([137, 80, 78, 71, 1, 2, 3])], 'front.png', { type: 'image/png' })
    assert.deepEqual(await uploadImage(file), ticket)
    assert.deepEqual(JSON.parse(scripted.requests[0].body), { content_type: 'image/png', content_length: 7, filename: 'front.png' })
    assert.equal(scripted.requests[0].headers.authorization, 'Token vg_test')
    const put = scripted.requests[1]
    assert.equal(put.method, 'PUT')
    assert.equal(put.url, '/bucket/uploads/dev/1.png?X-Amz-Signature=abc')
    assert.equal(put.headers['content-type'], 'image/png')
    assert.equal(put.headers['content-length'], '7')
    assert.equal(put.headers.authorization, undefined, 'the signature is the credential')
  })

  test('uploadImage: a refused type is the API 422; a refused PUT names its status', async () => {
    const detail = [{ loc: ['body', 'content_type'], msg: "content_type must be 'image/jpeg', 'image/png' or 'image/webp'", type: 'content_type_not_allowed' }]
    scripted.set('POST /api/uploads/', [answer({ detail }, 422)])
    const gif = new Blob(['GIF89a'], { type: 'image/gif' })
    await assert.rejects(uploadImage(gif), (error) => error.status === 422 && error.detail[0].loc[1] === 'content_type')
    assert.equal(scripted.requests.length, 1, 'nothing is PUT after a refusal')

    const base = scripted.url
    scripted.set('POST /api/uploads/', [answer({ upload_url: `${base}/put`, method: 'PUT', headers: { 'Content-Type': 'image/jpeg' }, file_url: 'x', expires_in: 1 })])
    scripted.set('PUT /put', [answer({}, 403)])
    await assert.rejects(uploadImage(new Blob(['x'], { type: 'image/jpeg' })), { message: 'Upload failed with status 403', kind: 'http', status: 403 })
  })

  test('listTasks sends only the filters given', async () => {
    const page = { items: [{ ...success, kind: 'transition', created_at: '2024-01-15T10:30:00Z' }], next_cursor: 'c2' }
    scripted.set('GET /api/tasks/', [answer(page)])
    assert.deepEqual(await listTasks({ limit: 5, cursor: 'c1', state: undefined, kind: '' }), page)
    assert.equal(scripted.requests[0].url, '/api/tasks/?limit=5&cursor=c1')
    scripted.set('GET /api/tasks/', [answer({ detail: 'Not Found' }, 404)])
    await assert.rejects(listTasks(), { message: 'Request failed with status 404', status: 404 })
  })
})
