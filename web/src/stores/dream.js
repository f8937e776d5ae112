// The dream tab (spec/dream-api.md): `POST /generate-video?dream=…&style=…`, then
// `GET /video-status/{id}` as that spec recommends (every 5 s, backing off), until `completed`
// or `failed`. The running task's id is kept in localStorage too, so a reload resumes it.
import { defineStore } from 'pinia'

import * as api from '~/client/videoGenerationApi'
import { describeError, fieldErrors } from '~/lib/errors'
import { canonical, DREAM_STYLES, LIMITS } from '~/lib/options'

export const DREAM_TASK_KEY = 'currentDreamTaskId'

export const useDreamStore = defineStore('dream', {
  state: () => ({
    dream: '',
    style: 'Realistic',
    taskId: null,
    status: null,
    error: null,
    fieldErrors: {},
    isGenerating: false,
    poll: { interval: 5000, maxInterval: 15000, backoff: 1.5, maxAttempts: 60 }
  }),
  getters: {
    videoUrl: (state) => (state.status?.status === 'completed' ? state.status.video_url : null),
    errorText: (state) => describeError(state.error)
  },
  actions: {
    setDream (text) { this.dream = String(text ?? ''); this.fieldErrors = {} },
    setStyle (style) { this.style = canonical(DREAM_STYLES, style) },

    async generate (onStatus) {
      if (this.isGenerating) throw new Error('A video is already being generated')
      this._start(null)
      const dream = this.dream.trim()
      if (!dream || dream.length > LIMITS.dreamChars) {
        this.fieldErrors = { dream: dream ? `Describe the dream in at most ${LIMITS.dreamChars} characters.` : 'Describe the dream first.' }
        this.error = Object.assign(new Error(this.fieldErrors.dream), { kind: 'invalid', status: 422 })
        throw this.error
      }
      this.isGenerating = true
      try {
        const accepted = await api.generateDreamVideo(dream, this.style)
        this.taskId = accepted.task_id
        api.rememberTask(accepted.task_id, { key: DREAM_TASK_KEY })
      } catch (error) {
        this.isGenerating = false
        this._failed(error)
        throw error
      }
      return this._follow(onStatus)
    },

    async resume (onStatus) {
      if (this.isGenerating) return null
      const taskId = api.pendingTask({ key: DREAM_TASK_KEY })
      if (!taskId) return null
      this._start(taskId)
      return this._follow(onStatus)
    },

    async open (taskId, onStatus) {
      if (this.isGenerating) throw new Error('A video is already being generated')
      this._start(taskId)
      api.rememberTask(taskId, { key: DREAM_TASK_KEY })
      return this._follow(onStatus, { interval: 1 })
    },

    async _follow (onStatus, overrides = {}) {
      this.isGenerating = true
      try {
        const status = await api.pollVideoStatus(
          this.taskId,
          (answer) => {
            this.status = answer
            if (onStatus) onStatus(answer)
          },
          { ...this.poll, ...overrides }
        )
        globalThis.localStorage?.removeItem(DREAM_TASK_KEY)
        return status
      } catch (error) {
        if (error.kind === 'failure' || error.status === 404) globalThis.localStorage?.removeItem(DREAM_TASK_KEY)
        this._failed(error)
        throw error
      } finally {
        this.isGenerating = false
      }
    },

    _start (taskId) {
      this.taskId = taskId
      this.status = null
      this.error = null
      this.fieldErrors = {}
    },

    _failed (error) {
      this.error = error
      if (error?.status === 422) this.fieldErrors = fieldErrors(error.detail)
    }
  }
})
