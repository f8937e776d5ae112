// The dream tab's store, "My tasks" (hidden while the API has no list route), and the session
// (token kept in localStorage, API address from config.json).
import { createPinia, setActivePinia } from 'pinia'
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'

import { configure } from '~/client/videoGenerationApi'
import { DREAM_TASK_KEY, useDreamStore } from '~/stores/dream'
import { loadConfig, TOKEN_KEY, useSessionStore } from '~/stores/session'
import { useTaskListStore } from '~/stores/tasks'

import { answer, startScriptedServer, success, TASK } from './scripted-server.js'

let server
beforeAll(async () => { server = await startScriptedServer() })
afterAll(() => server.close())
beforeEach(() => {
  server.reset()
  configure({ baseUrl: server.url, token: 'vg_test' })
})

const DREAM_STATUS = `GET /video-status/${TASK}`
const dreamStatus = (status, extra = {}) => ({
  task_id: TASK, status, dream: 'a whale over Paris', style: 'Animated', video_url: null, error: null,
  created_at: '2024-01-15T10:30:00Z', updated_at: '2024-01-15T10:30:05Z', ...extra
})
const fastDream = () => {
  const store = useDreamStore()
  store.poll = { interval: 5, maxInterval: 5, backoff: 1, maxAttempts: 10 }
  return store
}

describe('dream', () => {
  test('sends the dream and style as the query, polls /video-status to completed', async () => {
    server.set('POST /generate-video', [answer({ task_id: TASK, status: 'pending' }, 202)])
    const done = dreamStatus('completed', { video_url: 'https://example.com/d.mp4' })
    server.set(DREAM_STATUS, [answer(dreamStatus('pending')), answer(dreamStatus('processing')), answer(done)])
    const store = fastDream()
    store.setDream('  a whale over Paris ')
    store.setStyle('animated')
    const seen = []
    await expect(store.generate((status) => seen.push(status.status))).resolves.toEqual(done)
    expect(server.requests[0].url).toBe('/generate-video?dream=a+whale+over+Paris&style=Animated')
    expect(seen).toEqual(['pending', 'processing', 'completed'])
    expect(store.videoUrl).toBe('https://example.com/d.mp4')
    expect(localStorage.getItem(DREAM_TASK_KEY)).toBeNull()
  })

  test('an empty dream is refused before sending; a failed one shows its error; a reload resumes', async () => {
    const store = fastDream()
    await expect(store.generate()).rejects.toMatchObject({ kind: 'invalid' })
    expect(store.fieldErrors).toEqual({ dream: 'Describe the dream first.' })
    expect(server.requests).toEqual([])

    localStorage.setItem(DREAM_TASK_KEY, TASK)
    setActivePinia(createPinia())
    server.set(DREAM_STATUS, [answer(dreamStatus('failed', { error: 'The model refused the dream' }))])
    const resumed = fastDream()
    await expect(resumed.resume()).rejects.toThrow('The model refused the dream')
    expect(resumed.errorText).toBe('The video could not be made: The model refused the dream')
    expect(localStorage.getItem(DREAM_TASK_KEY)).toBeNull()
  })
})

describe('my tasks', () => {
  test('hidden while the API answers 404 (no list route yet)', async () => {
    const tasks = useTaskListStore()
    expect(tasks.available).toBeNull()
    await tasks.refresh()
    expect(tasks.available).toBe(false)
    expect(server.requests[0].url).toBe('/api/tasks/?limit=10')
  })

  test('pages with the cursor, newest first as the API lists them', async () => {
    const item = (id) => ({ ...success, task_id: id, kind: 'transition', created_at: '2024-01-15T10:30:00Z' })
    server.set('GET /api/tasks/', [answer({ items: [item('a'), item('b')], next_cursor: 'c1' }), answer({ items: [item('c')], next_cursor: null })])
    const tasks = useTaskListStore()
    await tasks.refresh()
    expect(tasks.available).toBe(true)
    await tasks.more()
    expect(tasks.items.map((i) => i.task_id)).toEqual(['a', 'b', 'c'])
    expect(tasks.nextCursor).toBeNull()
    expect(server.requests[1].url).toBe('/api/tasks/?limit=10&cursor=c1')
  })

  test('other failures are shown, not mistaken for a missing route', async () => {
    server.set('GET /api/tasks/', [answer({ detail: 'Unauthorized' }, 401)])
    const tasks = useTaskListStore()
    await tasks.refresh()
    expect(tasks.available).toBeNull()
    expect(tasks.errorText).toBe('The token was not accepted. Enter a valid token above.')
  })
})

describe('session', () => {
  test('the token is kept in localStorage and sent with every call', async () => {
    const session = useSessionStore()
    session.connect(server.url)
    session.setToken('  vg_abc  ')
    expect(localStorage.getItem(TOKEN_KEY)).toBe('vg_abc')
    await useTaskListStore().refresh()
    expect(server.requests[0].headers.authorization).toBe('Token vg_abc')
    setActivePinia(createPinia())
    expect(useSessionStore().token).toBe('vg_abc') // a new page load reads it back
  })

  test('a #token= fragment is taken once and removed from the address', () => {
    const replaced = []
    const session = useSessionStore()
    const taken = session.takeTokenFromLocation(
      { hash: '#token=vg_from%20link', pathname: '/', search: '?x=1' },
      { replaceState: (...args) => replaced.push(args) }
    )
    expect(taken).toBe(true)
    expect(session.token).toBe('vg_from link')
    expect(replaced).toEqual([[null, '', '/?x=1']])
    expect(session.takeTokenFromLocation({ hash: '', pathname: '/', search: '' }, null)).toBe(false)
  })

  test("config.json gives the API's address; without one, the page's own origin", async () => {
    const fake = (status, body) => async () => ({ ok: status === 200, json: async () => body })
    await expect(loadConfig(fake(200, { apiUrl: 'https://api.example.com/prod/' }))).resolves.toEqual({ apiUrl: 'https://api.example.com/prod/' })
    await expect(loadConfig(fake(404, null))).resolves.toEqual({ apiUrl: '' })
    await expect(loadConfig(async () => { throw new TypeError('offline') })).resolves.toEqual({ apiUrl: '' })
  })
})
