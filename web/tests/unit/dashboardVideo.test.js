// useDashboardVideoStore against a scripted server: the request it builds, the progress it shows,
// the errors it reports (and where), remembering and resuming the running task, opening any task.
import { createPinia, setActivePinia } from 'pinia'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'

import { configure } from '~/client/videoGenerationApi'
import { useDashboardVideoStore } from '~/stores/dashboardVideo'

import { accepted, answer, failure, pending, processing, RESULT, startScriptedServer, STATUS_PATH, success, TASK } from './scripted-server.js'

const CREATE = 'POST /api/transitions/create-and-generate/'
let server
beforeAll(async () => { server = await startScriptedServer() })
afterAll(() => server.close())
beforeEach(() => {
  server.reset()
  configure({ baseUrl: server.url, token: 'vg_test' })
})

/** A store filled as a person would, polling fast (the spec's 2 s is the default: see specExample). */
function filledStore () {
  const store = useDashboardVideoStore()
  store.pollInterval = 5
  store.setFrontImage('https://example.com/front.jpg')
  store.setTailImage('https://example.com/tail.jpg')
  return store
}

describe('the request', () => {
  test('setters write the spec fields; enumerations keep their canonical spelling', () => {
    const store = filledStore()
    store.setPrompt('Dynamic video transition')
    store.setDuration('10')
    store.setTransitionType('energetic')
    store.setSubtitleStyle('BOLD')
    store.setSubtitlePosition('Top')
    store.setEnableMusic(true)
    store.setMusicType('Cinematic')
    expect(store.request).toEqual({
      front_image: 'https://example.com/front.jpg',
      tail_image: 'https://example.com/tail.jpg',
      prompt: 'Dynamic video transition',
      duration: 10,
      transition_type: 'ENERGETIC',
      enable_subtitles: false,
      subtitle_style: 'bold',
      subtitle_position: 'top',
      subtitles: [],
      enable_music: true,
      music_type: 'cinematic',
      enable_voiceover: false
    })
  })

  test('subtitles are edited in place and sent only when enabled; a voiceover sends its text and voice', () => {
    const store = filledStore()
    store.addSubtitle()
    store.subtitles[0].text = 'First'
    store.addSubtitle()
    expect(store.subtitles).toEqual([{ startTime: 0, endTime: 2.5, text: 'First' }, { startTime: 2.5, endTime: 5, text: '' }])
    expect(store.request.subtitles).toEqual([])
    store.setEnableSubtitles(true)
    store.removeSubtitle(1)
    expect(store.request.subtitles).toEqual([{ startTime: 0, endTime: 2.5, text: 'First' }])
    store.setEnableVoiceover(true)
    store.setVoiceoverText('Hello')
    store.setVoice('AM_ADAM')
    expect(store.request).toMatchObject({ enable_voiceover: true, voiceover_text: 'Hello', voice: 'am_adam' })
  })

  test('the API checks are made before sending: a subtitle past the end names its end time, and nothing is sent', async () => {
    const store = filledStore()
    store.setEnableSubtitles(true)
    store.addSubtitle()
    store.subtitles[0].text = 'Too late'
    store.subtitles[0].endTime = 7
    expect(store.problems).toEqual({ 'subtitles.0.endTime': 'Subtitle 1 ends at 7 s, after the end of the video (5 s).' })
    await expect(store.generateVideo()).rejects.toMatchObject({ kind: 'invalid', status: 422, message: 'subtitles[0].endTime (7) is past the end of the video (5 s)' })
    expect(store.errors).toEqual(store.problems)
    expect(store.errorText).toBe('Some fields need fixing: see the messages next to them.')
    expect(server.requests).toEqual([])
    store.setDuration(10)
    expect(store.errors).toEqual({}) // 7 s fits a 10 s video
  })
})

describe('generateVideo', () => {
  test('polls to SUCCESS: every answer reaches onStatus, the progress follows info.current/info.total', async () => {
    server.set(CREATE, [answer(accepted, 202)])
    const half = { ...processing, info: { current: 50, total: 100, status: 'Processing frames...' } }
    server.set(`GET ${STATUS_PATH}`, [answer(pending), answer(processing), answer(half), answer(success)])
    const store = filledStore()
    const seen = []
    const progress = []
    const result = await store.generateVideo((status) => {
      seen.push(status.state)
      progress.push([store.progress.state, store.progress.percent, store.progress.text])
      expect(localStorage.getItem('currentTaskId')).toBe(TASK) // remembered while it runs
    })
    expect(result).toEqual(RESULT)
    expect(seen).toEqual(['PENDING', 'PROCESSING', 'PROCESSING', 'SUCCESS'])
    expect(progress).toEqual([
      ['PENDING', 0, 'Waiting in the queue...'],
      ['PROCESSING', 1, 'Processing frames...'],
      ['PROCESSING', 50, 'Processing frames...'],
      ['SUCCESS', 100, 'Done']
    ])
    expect(store).toMatchObject({ taskId: TASK, result: RESULT, error: null, isGenerating: false })
    expect(localStorage.getItem('currentTaskId')).toBeNull()
  })

  test("a FAILURE rejects with the task's error and shows it", async () => {
    server.set(CREATE, [answer(accepted, 202)])
    server.set(`GET ${STATUS_PATH}`, [answer(failure)])
    const store = filledStore()
    await expect(store.generateVideo()).rejects.toThrow('Failed to process video: Invalid image format')
    expect(store.errorText).toBe('The video could not be made: Failed to process video: Invalid image format')
    expect(store.progress).toMatchObject({ state: 'FAILURE', text: 'Failed to process video: Invalid image format' })
    expect(localStorage.getItem('currentTaskId')).toBeNull()
  })

  test("the API's 422 lands next to the fields it names, in plain words; nothing is remembered", async () => {
    const detail = [
      { loc: ['body', 'front_image'], msg: 'Input should be a valid URL, relative URL without a base', type: 'url_parsing' },
      { loc: ['body', 'duration'], msg: 'duration must be 5 or 10 seconds (the transition model renders only these lengths)', type: 'duration_not_allowed' }
    ]
    server.set(CREATE, [answer({ detail }, 422)])
    const store = filledStore()
    await expect(store.generateVideo()).rejects.toThrow('Request failed with status 422')
    expect(store.fieldErrors).toEqual({
      front_image: 'Enter a web address starting with http:// or https://, or upload a file.',
      duration: 'duration must be 5 or 10 seconds (the transition model renders only these lengths)'
    })
    expect(store.taskId).toBeNull()
    expect(localStorage.getItem('currentTaskId')).toBeNull()
    store.setFrontImage('https://example.com/other.jpg')
    expect(Object.keys(store.fieldErrors)).toEqual(['duration']) // editing a field clears its message
  })

  test("the spec's timeout and network messages", async () => {
    server.set(CREATE, [answer(accepted, 202)])
    server.set(`GET ${STATUS_PATH}`, [answer(processing)])
    const store = filledStore()
    store.maxAttempts = 3
    await expect(store.generateVideo()).rejects.toThrow('Task polling timeout - maximum attempts reached')
    expect(localStorage.getItem('currentTaskId')).toBe(TASK) // may still be running: kept for a later resume

    configure({ baseUrl: 'http://127.0.0.1:9' }) // nothing listens on the discard port
    await expect(filledStore().generateVideo()).rejects.toThrow('Network Error')
  })

  test('one generation at a time', async () => {
    server.set(CREATE, [answer(accepted, 202)])
    server.set(`GET ${STATUS_PATH}`, [answer(pending), answer(success)])
    const store = filledStore()
    const first = store.generateVideo()
    await expect(store.generateVideo()).rejects.toThrow('already being generated')
    await expect(first).resolves.toEqual(RESULT)
  })
})

describe('after a reload', () => {
  test('resume() picks up the task the previous page started and polls it to the end', async () => {
    server.set(CREATE, [answer(accepted, 202)])
    server.set(`GET ${STATUS_PATH}`, [answer(pending)])
    const before = filledStore()
    before.setPrompt('Kept across the reload')
    before.setEnableSubtitles(true)
    before.addSubtitle()
    before.subtitles[0].text = 'Hello'
    before.maxAttempts = 1
    await expect(before.generateVideo()).rejects.toThrow('Task polling timeout')

    setActivePinia(createPinia()) // the reloaded page: new stores, the same localStorage
    server.set(`GET ${STATUS_PATH}`, [answer(processing), answer(success)])
    const after = useDashboardVideoStore()
    after.pollInterval = 5
    const states = []
    const resumed = after.resume((status) => states.push(status.state))
    expect(after.taskId).toBe(TASK)
    expect(after.isGenerating).toBe(true)
    expect(after.request).toEqual(before.request) // the form shows what is being made
    await expect(resumed).resolves.toEqual(RESULT)
    expect(states).toEqual(['PROCESSING', 'SUCCESS'])
    expect(after.result).toEqual(RESULT)
    expect(localStorage.getItem('currentTaskId')).toBeNull()
    expect(localStorage.getItem('currentTaskRequest')).toBeNull()
    await expect(useDashboardVideoStore().resume()).resolves.toBeNull() // nothing left
  })

  test('open() shows a finished task at once and follows a running one', async () => {
    server.set(`GET ${STATUS_PATH}`, [answer(success)])
    const store = useDashboardVideoStore()
    store.pollInterval = 5
    await expect(store.open(TASK)).resolves.toEqual(RESULT)
    expect(server.requests).toHaveLength(1)

    server.set(`GET ${STATUS_PATH}`, [answer(processing), answer(processing), answer(success)])
    const opened = store.open(TASK)
    await expect(opened).resolves.toEqual(RESULT)
    expect(server.requests).toHaveLength(4)
    expect(localStorage.getItem('currentTaskId')).toBeNull()
  })
})

describe('uploads', () => {
  test('a local file goes up through /api/uploads/ and its presigned URL becomes the image', async () => {
    const ticket = { upload_url: `${server.url}/bucket/up.png?sig=1`, method: 'PUT', headers: { 'Content-Type': 'image/png' }, file_url: `${server.url}/bucket/up.png?sig=2`, expires_in: 3600 }
    server.set('POST /api/uploads/', [answer(ticket)])
    server.set('PUT /bucket/up.png', [answer({})])
    const store = useDashboardVideoStore()
    await store.uploadImage('tail_image', new File(['png'], 'tail.png', { type: 'image/png' }))
    expect(store.tailImage).toBe(ticket.file_url)
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/uploads/', 'PUT /bucket/up.png'])
  })

  test('a refused file is explained next to its image', async () => {
    const detail = [{ loc: ['body', 'content_type'], msg: "content_type must be 'image/jpeg', 'image/png' or 'image/webp'", type: 'content_type_not_allowed' }]
    server.set('POST /api/uploads/', [answer({ detail }, 422)])
    const store = useDashboardVideoStore()
    await expect(store.uploadImage('front_image', new File(['GIF89a'], 'a.gif', { type: 'image/gif' }))).rejects.toThrow()
    expect(store.fieldErrors.front_image).toBe('Only JPEG, PNG and WebP images can be uploaded.')
    expect(store.frontImage).toBe('')
    expect(store.uploading.front_image).toBe(false)
  })
})
