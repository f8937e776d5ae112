// Mounts the page at once; the API's address (config.json) arrives alongside, and the stores
// wait for it before their first call.
import { createPinia } from 'pinia'
import { createApp } from 'vue'

import App from '~/App.vue'
import { loadConfig, useSessionStore } from '~/stores/session'
import '~/style.css'

const pinia = createPinia()
const session = useSessionStore(pinia)
session.takeTokenFromLocation()
session.connect('') // until config.json says otherwise: this page's origin
const ready = loadConfig().then(({ apiUrl }) => session.connect(apiUrl))

createApp(App, { ready }).use(pinia).mount('#app')
performance.mark('videogen:mounted')
