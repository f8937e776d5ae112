// Types of videoGenerationApi.js (the shapes of ../shared/spec/transitions-api-flow.md and dream-api.md).

export interface ClientConfig {
  /** The API's base URL, e.g. 'https://abc.execute-api.eu-west-1.amazonaws.com/prod'. */
  baseUrl: string
  /** Sent as `Authorization: Token <token>`. */
  token: string | null
  /** A `fetch` implementation (default: the global one). */
  fetch: typeof fetch | null
}

export interface Subtitle {
  startTime: number
  endTime: number
  text: string
}

export interface TransitionParams {
  front_image: string
  tail_image: string
  prompt?: string
  duration?: 5 | 10 | number
  transition_type?: string
  enable_subtitles?: boolean
  subtitle_style?: 'default' | 'bold' | 'minimal' | string
  subtitle_position?: 'bottom' | 'middle' | 'top' | string
  subtitles?: Subtitle[]
  enable_music?: boolean
  music_type?: string
  enable_voiceover?: boolean
  voiceover_text?: string
  voice?: string
  /** An https URL the service POSTs the task's end to (a signed TaskEvent; see verifyWebhook). */
  webhook_url?: string
}

export interface SubmitOptions {
  /** The same key and request within 24 h give the same task (the answer has `replayed: true`). */
  idempotencyKey?: string
}

export interface Accepted {
  task_id: string
  status: 'pending'
  message?: string
  /** Set when a repeated Idempotency-Key answered the first submit's task. */
  replayed?: true
}

export interface WebhookAttempt {
  at: string
  status_code: number | null
  error: string | null
}

/** The caller webhook of a task submitted with `webhook_url`. */
export interface WebhookInfo {
  url: string
  /** The event's webhook-id: the same on every attempt. */
  event_id: string
  state: 'pending' | 'retrying' | 'delivered' | 'failed'
  attempts: number
  last_attempts: WebhookAttempt[]
  first_attempt_at: string | null
  next_attempt_at: string | null
  delivered_at: string | null
}

export interface ProgressInfo {
  current: number
  total: number
  status: string
}

export interface TransitionResult {
  transition_id: number
  generated_transition_id: number
  video_url: string
  thumbnail_url: string
  duration: number
  status: 'completed'
  created_at: string
  /** WebVTT of the subtitles, when there are any. */
  subtitles_url?: string | null
}

export interface TaskStatus {
  task_id: string
  state: 'PENDING' | 'PROCESSING' | 'SUCCESS' | 'FAILURE'
  ready: boolean
  info?: ProgressInfo | null
  result?: TransitionResult
  error?: string
  /** Only for tasks submitted with a webhook_url. */
  webhook?: WebhookInfo
}

export interface UploadTicket {
  /** Presigned PUT for exactly this content type and length. */
  upload_url: string
  method: 'PUT'
  /** Headers the PUT must carry. */
  headers: Record<string, string>
  /** Presigned GET of the uploaded file: send it as front_image / tail_image. */
  file_url: string
  /** Seconds both URLs stay valid. */
  expires_in: number
}

export interface TaskListItem extends TaskStatus {
  kind: 'transition' | 'dream'
  created_at: string
}

export interface TaskList {
  items: TaskListItem[]
  next_cursor: string | null
}

export interface VideoStatus {
  task_id: string
  status: 'pending' | 'processing' | 'completed' | 'failed'
  dream: string
  style: string
  video_url: string | null
  error: string | null
  created_at: string
  updated_at: string
  webhook?: WebhookInfo
}

export interface WebhookSecret {
  /** whsec_ + base64 key. */
  secret: string
  /** After a rotation, the previous secret also signs until then. */
  previous_secret_valid_until: string | null
}

/** What the service POSTs to a task's webhook_url when the task ends. */
export interface TaskEvent {
  id: string
  type: 'task.succeeded' | 'task.failed'
  timestamp: string
  data: TaskListItem
}

export interface ValidationErrorItem {
  loc: Array<string | number>
  msg: string
  type: string
}

/** Every rejection is an Error with the spec's message and these fields. */
export interface VideoGenerationError extends Error {
  kind: 'failure' | 'timeout' | 'http' | 'network' | 'webhook'
  taskId?: string
  /** HTTP status ('http' errors). */
  status?: number
  /** The answer's `detail` ('http' errors): a string, or the 422 list. */
  detail?: string | ValidationErrorItem[]
  /** The last status answer ('failure' and 'timeout'). */
  response?: TaskStatus | VideoStatus
  /** 409 of cancelTask: the task's current status. */
  task?: TaskStatus
}

/** What `localStorage` offers that resuming needs. */
export interface TaskStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
  removeItem(key: string): void
}

export interface TrackOptions {
  storage?: TaskStorage
  key?: string
  interval?: number
  maxAttempts?: number
}

export const CURRENT_TASK_KEY: 'currentTaskId'

export function configure(options?: Partial<ClientConfig>): void
export function createAndGenerateVideo(params: TransitionParams, options?: SubmitOptions): Promise<Accepted>
export function checkTaskStatus(taskId: string): Promise<TaskStatus>
export function pollTaskStatus(
  taskId: string,
  onStatus?: (status: TaskStatus) => void,
  interval?: number,
  maxAttempts?: number
): Promise<TransitionResult>
export function generateDreamVideo(
  dream: string,
  style: 'Realistic' | 'Animated' | 'Cursed' | string,
  options?: SubmitOptions & { webhookUrl?: string }
): Promise<Accepted>
export function checkVideoStatus(taskId: string): Promise<VideoStatus>
export function pollVideoStatus(
  taskId: string,
  onStatus?: (status: VideoStatus) => void,
  options?: { interval?: number; maxInterval?: number; backoff?: number; maxAttempts?: number }
): Promise<VideoStatus>
export function rememberTask(taskId: string, options?: { storage?: TaskStorage; key?: string }): void
export function pendingTask(options?: { storage?: TaskStorage; key?: string }): string | null
export function generateVideo(
  params: TransitionParams,
  onStatus?: (status: TaskStatus) => void,
  options?: TrackOptions
): Promise<TransitionResult>
export function resumePendingTask(
  onStatus?: (status: TaskStatus) => void,
  options?: TrackOptions
): Promise<TransitionResult | null>
export function uploadImage(file: Blob & { name?: string }, options?: { filename?: string }): Promise<UploadTicket>
export function listTasks(filters?: {
  limit?: number
  cursor?: string
  state?: 'PENDING' | 'PROCESSING' | 'SUCCESS' | 'FAILURE'
  kind?: 'transition' | 'dream'
}): Promise<TaskList>
export function cancelTask(taskId: string): Promise<TaskStatus>
export function deleteTask(taskId: string): Promise<void>
export function getWebhookSecret(): Promise<WebhookSecret>
export function rotateWebhookSecret(): Promise<WebhookSecret>
export function verifyWebhook(
  payload: string | Uint8Array | ArrayBuffer,
  headers: Record<string, string> | Headers,
  secret: string | string[],
  options?: { tolerance?: number; now?: number }
): Promise<TaskEvent>
