// The spec's dashboard example, run unchanged (tests/unit/spec-example.js) against a scripted
// server that answers as the spec's HTTP flow does: every poll reaches its callback, the result
// resolves; a FAILURE reaches its catch with the task's error as the message.
import { afterAll, beforeAll, beforeEach, expect, test, vi } from 'vitest'

import { accepted, answer, failure, pending, processing, RESULT, startScriptedServer, STATUS_PATH, success, TASK } from './scripted-server.js'

let server
beforeAll(async () => { server = await startScriptedServer() })
afterAll(() => server.close())
beforeEach(() => {
  server.reset()
})

async function runExample () {
  // A module runs once: a fresh module graph each time, configured before the example runs.
  vi.resetModules()
  const { configure } = await import('~/client/videoGenerationApi')
  configure({ baseUrl: server.url, token: 'your-auth-token' })
  const log = vi.spyOn(console, 'log').mockImplementation(() => {})
  const error = vi.spyOn(console, 'error').mockImplementation(() => {})
  try {
    await import('./spec-example.js')
    return { log: log.mock.calls, error: error.mock.calls }
  } finally {
    log.mockRestore()
    error.mockRestore()
  }
}

test('the example sends the spec request, logs each poll response and the final result', async () => {
  server.set('POST /api/transitions/create-and-generate/', [answer(accepted, 202)])
  server.set(`GET ${STATUS_PATH}`, [answer(pending), answer(processing), answer(success)])

  const { log, error } = await runExample()

  expect(error).toEqual([])
  expect(log).toEqual([
    ['Poll response:', pending],
    ['Poll response:', processing],
    ['Poll response:', success],
    ['Final result:', RESULT]
  ])
  const [create, ...polls] = server.requests
  expect(create.headers.authorization).toBe('Token your-auth-token')
  expect(JSON.parse(create.body)).toEqual({
    front_image: 'https://example.com/front.jpg',
    tail_image: 'https://example.com/tail.jpg',
    prompt: 'Dynamic video transition',
    duration: 5,
    transition_type: 'ENERGETIC',
    enable_subtitles: true,
    subtitle_style: 'default',
    subtitle_position: 'bottom',
    subtitles: [{ startTime: 0, endTime: 2.5, text: 'First subtitle' }],
    enable_music: false,
    music_type: 'ambient',
    enable_voiceover: false
  })
  expect(polls.map((r) => r.url)).toEqual([STATUS_PATH, STATUS_PATH, STATUS_PATH])
  expect(localStorage.getItem('currentTaskId')).toBeNull() // over: nothing left to resume
}, 30000)

test("a failed task reaches the example's catch with the spec's message", async () => {
  server.set('POST /api/transitions/create-and-generate/', [answer(accepted, 202)])
  server.set(`GET ${STATUS_PATH}`, [answer(pending), answer(failure)])

  const { log, error } = await runExample()

  expect(log).toEqual([['Poll response:', pending], ['Poll response:', failure]])
  expect(error).toEqual([['Error:', 'Failed to process video: Invalid image format']])
  expect(TASK).toContain(':execution:')
}, 30000)
