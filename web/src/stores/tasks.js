// "My tasks": the owner's tasks, newest first, from `GET /api/tasks/` (cursor pages). Where the
// API has no such route yet (it answers 404), `available` turns false and the page hides the list.
import { defineStore } from 'pinia'

import * as api from '~/client/videoGenerationApi'
import { describeError } from '~/lib/errors'

export const PAGE_SIZE = 10

export const useTaskListStore = defineStore('tasks', {
  state: () => ({
    available: null, // null: not asked yet
    items: [],
    nextCursor: null,
    loading: false,
    error: null
  }),
  getters: {
    errorText: (state) => describeError(state.error)
  },
  actions: {
    /** The first page again (after a task starts or ends, or on demand). */
    async refresh () {
      return this._load(null)
    },
    async more () {
      if (this.nextCursor) return this._load(this.nextCursor)
    },
    async _load (cursor) {
      this.loading = true
      this.error = null
      try {
        const page = await api.listTasks({ limit: PAGE_SIZE, cursor: cursor ?? undefined })
        this.available = true
        this.items = cursor ? [...this.items, ...page.items] : page.items
        this.nextCursor = page.next_cursor ?? null
      } catch (error) {
        if (error.status === 404) {
          this.available = false
          this.items = []
        } else {
          this.error = error
        }
      } finally {
        this.loading = false
      }
    }
  }
})
