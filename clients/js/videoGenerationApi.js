// The videogen API for JavaScript clients (browsers and Node 18+): an ES module on `fetch`,
// no dependencies. Behaviour and messages follow ../shared/spec/transitions-api-flow.md:
//
//   configure({ baseUrl: 'https://api.example.com', token: 'vg_…' })
//   const { task_id } = await createAndGenerateVideo(params)
//   const result = await pollTaskStatus(task_id, (status) => console.log('Progress:', status))
//
// Errors are `Error`s whose `message` is the spec's: the task's `error` on FAILURE,
// 'Task polling timeout - maximum attempts reached', 'Request failed with status N' or
// 'Network Error'. They also carry `kind` ('failure' | 'timeout' | 'http' | 'network') and,
// where known, `taskId`, `status` (HTTP status), `detail` (the answer's `detail`: for 422 the
// list of {loc, msg, type}) and `response` (the last status answer).

/** @typedef {import('./videoGenerationApi').ClientConfig} ClientConfig */

const settings = {
  baseUrl: '',
  token: null,
  fetch: null
}

/**
 * Set the API's base URL and token (and optionally a `fetch` implementation) for every call.
 * @param {Partial<ClientConfig>} [options]
 */
export function configure ({ baseUrl, token, fetch: fetchImpl } = {}) {
  if (baseUrl !== undefined) settings.baseUrl = String(baseUrl).replace(/\/+$/, '')
  if (token !== undefined) settings.token = token
  if (fetchImpl !== undefined) settings.fetch = fetchImpl
}

const withKind = (error, kind, extra = {}) => Object.assign(error, { kind }, extra)

// Task ids are execution ARNs: keep their colons readable, escape anything else.
const taskSegment = (taskId) => encodeURIComponent(String(taskId)).replace(/%3A/gi, ':')

async function request (method, path, { body, query, headers: extra, withHeaders = false } = {}) {
  if (!settings.baseUrl && !globalThis.location) {
    throw new Error('videoGenerationApi: call configure({ baseUrl, token }) first')
  }
  const url = new URL(`${settings.baseUrl}${path}`, globalThis.location?.href)
  for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, value)
  const headers = { Accept: 'application/json', ...(extra ?? {}) }
  if (settings.token) headers.Authorization = `Token ${settings.token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const fetchImpl = settings.fetch ?? globalThis.fetch
  let response
  try {
    response = await fetchImpl(url.toString(), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch (cause) {
    throw withKind(new Error('Network Error', { cause }), 'network')
  }
  let payload = null
  try {
    payload = await response.json()
  } catch {
    payload = null
  }
  if (!response.ok) {
    throw withKind(new Error(`Request failed with status ${response.status}`), 'http', {
      status: response.status,
      detail: payload?.detail,
      ...(payload?.task ? { task: payload.task } : {})
    })
  }
  return withHeaders ? { payload, headers: response.headers } : payload
}

const submitHeaders = (idempotencyKey) =>
  idempotencyKey === undefined || idempotencyKey === null ? {} : { 'Idempotency-Key': String(idempotencyKey) }

async function submit (method, path, options, idempotencyKey) {
  const { payload, headers } = await request(method, path, { ...options, headers: submitHeaders(idempotencyKey), withHeaders: true })
  if (headers?.get?.('Idempotent-Replayed') === 'true') return { ...payload, replayed: true }
  return payload
}

/**
 * Start a transition: `POST /api/transitions/create-and-generate/` → `{ task_id, status, message }`.
 * With `idempotencyKey`, retrying the same request gives the same task (`replayed: true`).
 * @param {import('./videoGenerationApi').TransitionParams} params
 * @param {import('./videoGenerationApi').SubmitOptions} [options]
 */
export const createAndGenerateVideo = (params, { idempotencyKey } = {}) =>
  submit('POST', '/api/transitions/create-and-generate/', { body: params }, idempotencyKey)

/**
 * One status read: `GET /api/transitions/task-status/{taskId}/` (serves tasks of either kind).
 * @param {string} taskId
 */
export const checkTaskStatus = (taskId) =>
  request('GET', `/api/transitions/task-status/${taskSegment(taskId)}/`)

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Poll until the task is ready, as the spec's client does: wait `interval` ms, read the status,
 * give it to `onStatus`; resolve with `result` on SUCCESS, reject with the task's `error` on
 * FAILURE, or with 'Task polling timeout - maximum attempts reached' after `maxAttempts` polls.
 * @param {string} taskId
 * @param {(status: import('./videoGenerationApi').TaskStatus) => void} [onStatus]
 * @param {number} [interval] milliseconds between polls (2000)
 * @param {number} [maxAttempts] polls before giving up (150: five minutes)
 */
export async function pollTaskStatus (taskId, onStatus, interval = 2000, maxAttempts = 150) {
  let status
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    await sleep(interval)
    status = await checkTaskStatus(taskId)
    if (onStatus) onStatus(status)
    if (status.ready) {
      if (status.state === 'SUCCESS') return status.result
      throw withKind(new Error(status.error || 'Video generation failed'), 'failure', {
        taskId,
        response: status
      })
    }
  }
  throw withKind(new Error('Task polling timeout - maximum attempts reached'), 'timeout', {
    taskId,
    response: status
  })
}

/**
 * Start a dream video: `POST /generate-video?dream=…&style=…` → `{ task_id, status: 'pending' }`.
 * @param {string} dream
 * @param {'Realistic' | 'Animated' | 'Cursed'} style
 * @param {import('./videoGenerationApi').SubmitOptions & { webhookUrl?: string }} [options]
 */
export const generateDreamVideo = (dream, style, { webhookUrl, idempotencyKey } = {}) =>
  submit('POST', '/generate-video', { query: { dream, style, ...(webhookUrl ? { webhook_url: webhookUrl } : {}) } }, idempotencyKey)

/**
 * The dream API's status: `GET /video-status/{taskId}`.
 * @param {string} taskId
 */
export const checkVideoStatus = (taskId) => request('GET', `/video-status/${taskSegment(taskId)}`)

/**
 * Poll a dream task as dream-api.md recommends (5 s, exponential backoff) until `completed`
 * (resolves with the status, `video_url` set) or `failed` (rejects with its `error`).
 * @param {string} taskId
 * @param {(status: import('./videoGenerationApi').VideoStatus) => void} [onStatus]
 * @param {{ interval?: number, maxInterval?: number, backoff?: number, maxAttempts?: number }} [options]
 */
export async function pollVideoStatus (
  taskId,
  onStatus,
  { interval = 5000, maxInterval = 30000, backoff = 1.5, maxAttempts = 60 } = {}
) {
  let status
  let delay = interval
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    await sleep(delay)
    delay = Math.min(maxInterval, delay * backoff)
    status = await checkVideoStatus(taskId)
    if (onStatus) onStatus(status)
    if (status.status === 'completed') return status
    if (status.status === 'failed') {
      throw withKind(new Error(status.error || 'Video generation failed'), 'failure', {
        taskId,
        response: status
      })
    }
  }
  throw withKind(new Error('Task polling timeout - maximum attempts reached'), 'timeout', {
    taskId,
    response: status
  })
}

// -- Uploads and the task list (beyond the spec) --------------------------------------------------

/**
 * Upload a local image (a `File` or `Blob`): `POST /api/uploads/` for a presigned PUT, then the
 * PUT itself, straight to storage. Resolves with the upload's answer; send its `file_url` as
 * `front_image`/`tail_image`. A type or size the API refuses is a 422 (`detail` says which); a
 * refused PUT rejects with 'Upload failed with status N'.
 * @param {Blob & { name?: string }} file
 * @param {{ filename?: string }} [options]
 */
export async function uploadImage (file, { filename = file?.name } = {}) {
  const ticket = await request('POST', '/api/uploads/', {
    body: {
      content_type: file.type,
      content_length: file.size,
      ...(filename ? { filename: String(filename).slice(0, 255) } : {})
    }
  })
  const fetchImpl = settings.fetch ?? globalThis.fetch
  let response
  try {
    // No Authorization here: the URL carries its own signature, over this type and length.
    response = await fetchImpl(ticket.upload_url, { method: ticket.method ?? 'PUT', headers: ticket.headers, body: file })
  } catch (cause) {
    throw withKind(new Error('Network Error', { cause }), 'network')
  }
  if (!response.ok) {
    throw withKind(new Error(`Upload failed with status ${response.status}`), 'http', { status: response.status })
  }
  return ticket
}

/**
 * The owner's tasks, newest first: `GET /api/tasks/?limit=&cursor=&state=&kind=` →
 * `{ items, next_cursor }`, each item shaped like a task-status answer plus `kind` and `created_at`.
 * @param {{ limit?: number, cursor?: string, state?: string, kind?: string }} [filters]
 */
export function listTasks (filters = {}) {
  const query = Object.fromEntries(
    Object.entries(filters).filter(([, value]) => value !== undefined && value !== null && value !== '')
  )
  return request('GET', '/api/tasks/', { query })
}

/**
 * Cancel a task: `POST /api/tasks/{taskId}/cancel/` → its status (FAILURE, 'Task was canceled').
 * Cancelling twice is harmless; a task that had already finished rejects with status 409 and its
 * current status in `error.task`.
 * @param {string} taskId
 */
export const cancelTask = (taskId) => request('POST', `/api/tasks/${taskSegment(taskId)}/cancel/`)

/**
 * Delete a task: `DELETE /api/tasks/{taskId}/` (cancelled first if it runs; its record and media
 * erased). Resolves with nothing; later reads reject with status 404.
 * @param {string} taskId
 */
export async function deleteTask (taskId) {
  await request('DELETE', `/api/tasks/${taskSegment(taskId)}/`)
}

/** The owner's webhook signing secret: `GET /api/webhooks/secret/` → `{ secret, previous_secret_valid_until }`. */
export const getWebhookSecret = () => request('GET', '/api/webhooks/secret/')

/** A new webhook signing secret (the previous one also signs for a day): `POST /api/webhooks/secret/`. */
export const rotateWebhookSecret = () => request('POST', '/api/webhooks/secret/')

// -- Verifying a webhook (Standard Webhooks; WebCrypto: browsers and Node 18+) ------------------------

const b64decode = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
const b64encode = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))

function sameBytes (a, b) {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/**
 * Check a webhook the service sent, as received (the raw body: a string or bytes), and resolve with
 * the event `{ id, type: 'task.succeeded' | 'task.failed', timestamp, data }`. Rejects with an Error
 * whose `kind` is 'webhook' if a header is missing, the timestamp is more than `tolerance` seconds
 * away from now (a replay), or no `v1,` signature matches one of the secrets (`whsec_…`).
 * @param {string | Uint8Array | ArrayBuffer} payload
 * @param {Record<string, string> | Headers} headers
 * @param {string | string[]} secret
 * @param {{ tolerance?: number, now?: number }} [options] seconds; `now` in seconds since the epoch
 */
export async function verifyWebhook (payload, headers, secret, { tolerance = 300, now } = {}) {
  const fail = (message) => withKind(new Error(message), 'webhook')
  const get = (name) => (typeof headers.get === 'function'
    ? headers.get(name)
    : Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1])
  const id = get('webhook-id')
  const stamp = get('webhook-timestamp')
  const signatures = get('webhook-signature')
  if (!id || !stamp || !signatures) throw fail('Missing webhook-id, webhook-timestamp or webhook-signature')
  const timestamp = Number.parseInt(stamp, 10)
  const current = now ?? Math.floor(Date.now() / 1000)
  if (!Number.isFinite(timestamp) || Math.abs(current - timestamp) > tolerance) {
    throw fail('webhook-timestamp is too old or too new (a replay?)')
  }
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : new Uint8Array(payload)
  const signed = new Uint8Array([...new TextEncoder().encode(`${id}.${timestamp}.`), ...body])
  const offered = String(signatures).split(' ').filter((s) => s.startsWith('v1,')).map((s) => s.slice(3))
  for (const each of Array.isArray(secret) ? secret : [secret]) {
    const key = await globalThis.crypto.subtle.importKey(
      'raw', b64decode(String(each).replace(/^whsec_/, '')), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']
    )
    const expected = b64encode(await globalThis.crypto.subtle.sign('HMAC', key, signed))
    if (offered.some((candidate) => sameBytes(candidate, expected))) {
      return JSON.parse(new TextDecoder().decode(body))
    }
  }
  throw fail('No valid signature: wrong secret, or the body was changed')
}

// -- Resume polling after a page refresh (the spec's last section) ----------------------------------

export const CURRENT_TASK_KEY = 'currentTaskId'

const defaultStorage = () => {
  if (!globalThis.localStorage) throw new Error('No storage: pass { storage } (localStorage is not available)')
  return globalThis.localStorage
}

/**
 * Remember a started task, so a reloaded page can resume it.
 * @param {string} taskId
 * @param {{ storage?: import('./videoGenerationApi').TaskStorage, key?: string }} [options]
 */
export function rememberTask (taskId, { storage = defaultStorage(), key = CURRENT_TASK_KEY } = {}) {
  storage.setItem(key, taskId)
}

/**
 * The task a previous page started and did not see finish, or null.
 * @param {{ storage?: import('./videoGenerationApi').TaskStorage, key?: string }} [options]
 */
export function pendingTask ({ storage = defaultStorage(), key = CURRENT_TASK_KEY } = {}) {
  return storage.getItem(key)
}

/**
 * Start a transition and poll it to the end, remembering its id meanwhile (`storage`,
 * `localStorage` by default) so that `resumePendingTask` can pick it up after a reload.
 * @param {import('./videoGenerationApi').TransitionParams} params
 * @param {(status: import('./videoGenerationApi').TaskStatus) => void} [onStatus]
 * @param {import('./videoGenerationApi').TrackOptions} [options]
 */
export async function generateVideo (params, onStatus, options = {}) {
  const { storage = defaultStorage(), key = CURRENT_TASK_KEY } = options
  const { task_id: taskId } = await createAndGenerateVideo(params)
  storage.setItem(key, taskId)
  return track(taskId, onStatus, { ...options, storage, key })
}

/**
 * On page load: if a task id is stored, poll it to the end. Resolves with the task's result,
 * or with null when nothing is pending. The stored id is removed once the task is over (SUCCESS
 * or FAILURE); after a timeout or a network error it stays, the task may still be running.
 * @param {(status: import('./videoGenerationApi').TaskStatus) => void} [onStatus]
 * @param {import('./videoGenerationApi').TrackOptions} [options]
 */
export async function resumePendingTask (onStatus, options = {}) {
  const { storage = defaultStorage(), key = CURRENT_TASK_KEY } = options
  const taskId = storage.getItem(key)
  if (!taskId) return null
  return track(taskId, onStatus, { ...options, storage, key })
}

async function track (taskId, onStatus, { storage, key, interval = 2000, maxAttempts = 150 }) {
  try {
    const result = await pollTaskStatus(taskId, onStatus, interval, maxAttempts)
    storage.removeItem(key)
    return result
  } catch (error) {
    if (error.kind === 'failure' || error.status === 404) storage.removeItem(key)
    throw error
  }
}
