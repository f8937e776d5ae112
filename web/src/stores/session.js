// Where the API is and who is calling: the API's URL from config.json (written at deploy; empty
// means this page's own origin, as on the twin) and the token, entered once and kept in
// localStorage (a `#token=…` fragment, as `make serve` prints, is taken once and removed from
// the address bar).
import { defineStore } from 'pinia'

import { configure } from '~/client/videoGenerationApi'

export const TOKEN_KEY = 'videogenToken'

export async function loadConfig (fetchImpl = globalThis.fetch) {
  try {
    const response = await fetchImpl('config.json', { cache: 'no-store' })
    if (response.ok) {
      const config = await response.json()
      return { apiUrl: typeof config.apiUrl === 'string' ? config.apiUrl : '' }
    }
  } catch {
    // No config: the API is on this page's origin.
  }
  return { apiUrl: '' }
}

export const useSessionStore = defineStore('session', {
  state: () => ({
    apiUrl: '',
    token: globalThis.localStorage?.getItem(TOKEN_KEY) ?? ''
  }),
  actions: {
    /** Point the API module at `apiUrl` with the stored token. */
    connect (apiUrl = this.apiUrl) {
      this.apiUrl = apiUrl
      configure({ baseUrl: apiUrl, token: this.token || null })
    },
    setToken (token) {
      this.token = String(token ?? '').trim()
      if (this.token) globalThis.localStorage?.setItem(TOKEN_KEY, this.token)
      else globalThis.localStorage?.removeItem(TOKEN_KEY)
      configure({ token: this.token || null })
    },
    /** A `#token=…` in the address: keep the token, drop the fragment (it must not linger in history). */
    takeTokenFromLocation (location = globalThis.location, history = globalThis.history) {
      const match = /(?:^#|&)token=([^&]+)/.exec(location?.hash ?? '')
      if (!match) return false
      this.setToken(decodeURIComponent(match[1]))
      history?.replaceState(null, '', location.pathname + location.search)
      return true
    }
  }
})
