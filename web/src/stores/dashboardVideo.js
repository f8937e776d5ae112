// useDashboardVideoStore: the store the transitions spec's dashboard code imports
// (`import { useDashboardVideoStore } from '~/stores/dashboardVideo'`), with exactly its surface:
// setters for the request's fields, `subtitles[i].startTime/endTime/text` to edit in place, and
// `generateVideo(onStatus)`, which starts the task, polls it every 2 s (giving every answer to
// `onStatus`) and resolves with the result, or rejects with the spec's messages (the task's
// error, 'Task polling timeout - maximum attempts reached', 'Request failed with status N',
// 'Network Error'). The running task's id is kept in localStorage (the spec's `currentTaskId`),
// so `resume()` picks it up after a reload. Built on the API module in clients/js, which does the
// HTTP, the polling and the remembering.
import { defineStore } from 'pinia'

import * as api from '~/client/videoGenerationApi'
import { describeError, fieldErrors, plainMessage } from '~/lib/errors'
import {
  canonical,
  DEFAULT_DURATION,
  MUSIC_TYPES,
  SUBTITLE_POSITIONS,
  SUBTITLE_STYLES,
  TRANSITION_TYPES,
  VOICES
} from '~/lib/options'
import { checkTransition } from '~/lib/validation'

/** The spec's polling: every 2 s, at most 150 times (five minutes). */
export const POLL_INTERVAL_MS = 2000
export const MAX_ATTEMPTS = 150
/** Beside the spec's `currentTaskId`: the request of that task, so a reloaded page shows what is being made. */
export const REQUEST_KEY = 'currentTaskRequest'

const toNumber = (value) => (value === '' || value === null || value === undefined ? null : Number(value))

/** A request the page refused before sending: the API's 422 items, with the first one's message. */
function invalid (problems) {
  return Object.assign(new Error(problems[0].msg), { kind: 'invalid', status: 422, detail: problems })
}

export const useDashboardVideoStore = defineStore('dashboardVideo', {
  state: () => ({
    // The request (the spec's fields).
    frontImage: '',
    tailImage: '',
    prompt: '',
    duration: DEFAULT_DURATION,
    transitionType: 'SMOOTH',
    enableSubtitles: false,
    subtitles: [],
    subtitleStyle: 'default',
    subtitlePosition: 'bottom',
    enableMusic: false,
    musicType: 'ambient',
    enableVoiceover: false,
    voiceoverText: '',
    voice: 'af_bella',
    // The task.
    taskId: null,
    status: null,
    result: null,
    error: null,
    fieldErrors: {},
    isGenerating: false,
    uploading: { front_image: false, tail_image: false },
    // Polling (the spec's defaults).
    pollInterval: POLL_INTERVAL_MS,
    maxAttempts: MAX_ATTEMPTS
  }),

  getters: {
    /** The body of `POST /api/transitions/create-and-generate/`. */
    request (state) {
      const body = {
        front_image: state.frontImage.trim(),
        tail_image: state.tailImage.trim(),
        prompt: state.prompt,
        duration: toNumber(state.duration),
        transition_type: state.transitionType,
        enable_subtitles: state.enableSubtitles,
        subtitle_style: state.subtitleStyle,
        subtitle_position: state.subtitlePosition,
        // Subtitles switched off are not sent: a half-written row then cannot block the request.
        subtitles: state.enableSubtitles
          ? state.subtitles.map((cue) => ({ startTime: toNumber(cue.startTime), endTime: toNumber(cue.endTime), text: cue.text }))
          : [],
        enable_music: state.enableMusic,
        music_type: state.musicType,
        enable_voiceover: state.enableVoiceover
      }
      if (state.enableVoiceover) {
        if (state.voiceoverText.trim()) body.voiceover_text = state.voiceoverText
        body.voice = state.voice
      }
      return body
    },
    /** The API's checks, made here as the form changes: `{ fieldKey: message }`. */
    problems () {
      return fieldErrors(checkTransition(this.request))
    },
    /** What to show next to each field: the checks made here, else what the API last said. */
    errors () {
      return { ...this.fieldErrors, ...this.problems }
    },
    /** For the progress bar: from `info.current`/`info.total`, full on SUCCESS. */
    progress (state) {
      const status = state.status
      if (state.result || status?.state === 'SUCCESS') {
        return { state: 'SUCCESS', current: 100, total: 100, percent: 100, text: 'Done' }
      }
      if (!status) {
        const text = state.taskId ? 'Waiting for the first status...' : 'Starting...'
        return { state: state.isGenerating ? 'PENDING' : null, current: 0, total: 100, percent: 0, text: state.isGenerating ? text : '' }
      }
      const total = status.info?.total > 0 ? status.info.total : 100
      const current = Math.max(0, Math.min(total, status.info?.current ?? 0))
      const text = status.state === 'FAILURE' ? (status.error ?? 'Failed') : (status.info?.status ?? (status.state === 'PENDING' ? 'Waiting in the queue...' : 'Working...'))
      return { state: status.state, current, total, percent: Math.round((100 * current) / total), text }
    },
    errorText: (state) => describeError(state.error)
  },

  actions: {
    setFrontImage (url) { this.frontImage = String(url ?? ''); this._clear('front_image') },
    setTailImage (url) { this.tailImage = String(url ?? ''); this._clear('tail_image') },
    setPrompt (prompt) { this.prompt = String(prompt ?? ''); this._clear('prompt') },
    setDuration (seconds) { this.duration = toNumber(seconds); this._clear('duration') },
    /** Any case ('energetic', 'ENERGETIC'): the API accepts both; kept in its canonical spelling. */
    setTransitionType (type) { this.transitionType = canonical(TRANSITION_TYPES, type); this._clear('transition_type') },
    setEnableSubtitles (enabled) { this.enableSubtitles = Boolean(enabled) },
    setSubtitleStyle (style) { this.subtitleStyle = canonical(SUBTITLE_STYLES, style) },
    setSubtitlePosition (position) { this.subtitlePosition = canonical(SUBTITLE_POSITIONS, position) },
    setEnableMusic (enabled) { this.enableMusic = Boolean(enabled) },
    setMusicType (type) { this.musicType = canonical(MUSIC_TYPES, type) },
    setEnableVoiceover (enabled) { this.enableVoiceover = Boolean(enabled) },
    setVoiceoverText (text) { this.voiceoverText = String(text ?? ''); this._clear('voiceover_text') },
    setVoice (voice) { this.voice = canonical(VOICES, voice) },

    /** A new subtitle row after the last one (edit it through `subtitles[i]`). */
    addSubtitle () {
      const last = this.subtitles[this.subtitles.length - 1]
      const start = Math.min(Number(last?.endTime) || 0, Math.max(0, (this.duration || DEFAULT_DURATION) - 0.5))
      this.subtitles.push({ startTime: start, endTime: Math.min(start + 2.5, this.duration || DEFAULT_DURATION), text: '' })
    },
    removeSubtitle (index) {
      this.subtitles.splice(index, 1)
      this.fieldErrors = Object.fromEntries(Object.entries(this.fieldErrors).filter(([key]) => !key.startsWith('subtitles')))
    },

    /** Upload a local file for `front_image` or `tail_image`; its presigned URL becomes the field's value. */
    async uploadImage (field, file) {
      this._clear(field)
      this.uploading[field] = true
      try {
        const ticket = await api.uploadImage(file)
        if (field === 'front_image') this.frontImage = ticket.file_url
        else this.tailImage = ticket.file_url
        return ticket
      } catch (error) {
        const item = Array.isArray(error.detail) ? error.detail[0] : null
        this.fieldErrors = { ...this.fieldErrors, [field]: item ? plainMessage(item) : describeError(error) }
        throw error
      } finally {
        this.uploading[field] = false
      }
    },

    /**
     * Start the video and poll it to the end (every 2 s; `onStatus` gets every answer). Resolves
     * with the task's result; rejects with the spec's messages. A 422 also fills `fieldErrors`.
     */
    async generateVideo (onStatus) {
      if (this.isGenerating) throw new Error('A video is already being generated')
      this._startTask(null)
      const body = this.request
      const problems = checkTransition(body)
      if (problems.length) {
        this.error = invalid(problems) // the messages are already next to their fields (`problems`)
        throw this.error
      }
      this.isGenerating = true
      let accepted
      try {
        accepted = await api.createAndGenerateVideo(body)
      } catch (error) {
        this.isGenerating = false
        this._failed(error)
        throw error
      }
      this.taskId = accepted.task_id
      api.rememberTask(accepted.task_id)
      globalThis.localStorage?.setItem(REQUEST_KEY, JSON.stringify({ taskId: accepted.task_id, body }))
      return this._follow(onStatus)
    },

    /** After a reload: the task a previous page started and did not see end, polled to its end (or null). */
    async resume (onStatus) {
      if (this.isGenerating) return null
      const taskId = api.pendingTask()
      if (!taskId) return null
      this._restoreRequest(taskId)
      this._startTask(taskId)
      return this._follow(onStatus)
    },

    /** Show any task by id (from "My tasks"): its result if it is over, else follow it like a new one. */
    async open (taskId, onStatus) {
      if (this.isGenerating) throw new Error('A video is already being generated')
      this._startTask(taskId)
      let status
      try {
        status = await api.checkTaskStatus(taskId)
      } catch (error) {
        this._failed(error)
        throw error
      }
      this.status = status
      onStatus?.(status)
      if (!status.ready) {
        api.rememberTask(taskId)
        return this._follow(onStatus)
      }
      if (status.state === 'SUCCESS') {
        this.result = status.result
        return status.result
      }
      this.error = Object.assign(new Error(status.error || 'Video generation failed'), { kind: 'failure', taskId, response: status })
      throw this.error
    },

    async _follow (onStatus) {
      this.isGenerating = true
      try {
        const result = await api.resumePendingTask(
          (status) => {
            this.status = status
            if (onStatus) onStatus(status)
          },
          { interval: this.pollInterval, maxAttempts: this.maxAttempts }
        )
        this.result = result
        return result
      } catch (error) {
        this._failed(error)
        throw error
      } finally {
        this.isGenerating = false
        if (!api.pendingTask()) globalThis.localStorage?.removeItem(REQUEST_KEY)
      }
    },

    /** The form as it was sent for `taskId` (saved by generateVideo), if this browser has it. */
    _restoreRequest (taskId) {
      let saved = null
      try {
        saved = JSON.parse(globalThis.localStorage?.getItem(REQUEST_KEY) ?? 'null')
      } catch {
        saved = null
      }
      if (saved?.taskId !== taskId || !saved.body) return
      const body = saved.body
      this.frontImage = body.front_image ?? ''
      this.tailImage = body.tail_image ?? ''
      this.prompt = body.prompt ?? ''
      this.duration = body.duration ?? DEFAULT_DURATION
      this.transitionType = body.transition_type ?? 'SMOOTH'
      this.enableSubtitles = Boolean(body.enable_subtitles)
      this.subtitles = (body.subtitles ?? []).map((cue) => ({ ...cue }))
      this.subtitleStyle = body.subtitle_style ?? 'default'
      this.subtitlePosition = body.subtitle_position ?? 'bottom'
      this.enableMusic = Boolean(body.enable_music)
      this.musicType = body.music_type ?? 'ambient'
      this.enableVoiceover = Boolean(body.enable_voiceover)
      this.voiceoverText = body.voiceover_text ?? ''
      this.voice = body.voice ?? 'af_bella'
    },

    _startTask (taskId) {
      this.taskId = taskId
      this.status = null
      this.result = null
      this.error = null
      this.fieldErrors = {}
    },

    _failed (error) {
      this.error = error
      if (error?.status === 422) this.fieldErrors = fieldErrors(error.detail)
    },

    _clear (key) {
      if (key in this.fieldErrors || 'request' in this.fieldErrors) {
        const { [key]: _gone, request: _too, ...rest } = this.fieldErrors
        this.fieldErrors = rest
      }
    }
  }
})

