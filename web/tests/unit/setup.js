// Each test gets a fresh Pinia (the spec's example calls useDashboardVideoStore() with no
// argument) and an empty localStorage: Node has none, browsers do, and the store keeps the
// running task there.
import { createPinia, setActivePinia } from 'pinia'
import { beforeEach } from 'vitest'

class MemoryStorage {
  #items = new Map()
  get length () { return this.#items.size }
  key (index) { return [...this.#items.keys()][index] ?? null }
  getItem (key) { return this.#items.has(key) ? this.#items.get(key) : null }
  setItem (key, value) { this.#items.set(key, String(value)) }
  removeItem (key) { this.#items.delete(key) }
  clear () { this.#items.clear() }
}

beforeEach(() => {
  globalThis.localStorage = new MemoryStorage()
  setActivePinia(createPinia())
})
