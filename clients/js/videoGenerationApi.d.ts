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
}

export interface Accepted {
  task_id: string
  status: 'pending'
  message?: string
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
}

export interface ValidationErrorItem {
  loc: Array<string | number>
  msg: string
  type: string
}

/** Every rejection is an Error with the spec's message and these fields. */
export interface VideoGenerationError extends Error {
  kind: 'failure' | 'timeout' | 'http' | 'network'
  taskId?: string
  /** HTTP status ('http' errors). */
  status?: number
  /** The answer's `detail` ('http' errors): a string, or the 422 list. */
  detail?: string | ValidationErrorItem[]
  /** The last status answer ('failure' and 'timeout'). */
  response?: TaskStatus | VideoStatus
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
export function createAndGenerateVideo(params: TransitionParams): Promise<Accepted>
export function checkTaskStatus(taskId: string): Promise<TaskStatus>
export function pollTaskStatus(
  taskId: string,
  onStatus?: (status: TaskStatus) => void,
  interval?: number,
  maxAttempts?: number
): Promise<TransitionResult>
export function generateDreamVideo(dream: string, style: 'Realistic' | 'Animated' | 'Cursed' | string): Promise<Accepted>
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
export function listTasks(filters?: { limit?: number; cursor?: string; state?: string; kind?: string }): Promise<TaskList>
