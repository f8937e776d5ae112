// The API's allowed values and limits (functions/service/domain/options.py), for the page's
// controls and its checks before sending. tests/unit/options.test.js holds them to docs/openapi.json.

export const DURATIONS = [5, 10]
export const DEFAULT_DURATION = 5

export const TRANSITION_TYPES = ['SMOOTH', 'ENERGETIC', 'DRAMATIC', 'DREAMY', 'ZOOM', 'GLITCH']
export const SUBTITLE_STYLES = ['default', 'bold', 'minimal']
export const SUBTITLE_POSITIONS = ['bottom', 'middle', 'top']
export const MUSIC_TYPES = ['ambient', 'upbeat', 'cinematic', 'dramatic', 'calm']
export const VOICES = ['af_bella', 'af_sarah', 'af_nicole', 'am_adam', 'am_michael', 'bf_emma', 'bm_george']
export const DREAM_STYLES = ['Realistic', 'Animated', 'Cursed']

export const LIMITS = {
  promptChars: 2000,
  voiceoverChars: 1000,
  dreamChars: 1000,
  subtitles: 50,
  subtitleChars: 200
}

/** Words a person reads for an allowed value ('af_bella' → 'Bella (American, female)'). */
export function label (value) {
  const voice = /^([ab])([fm])_(\w+)$/.exec(value)
  if (voice) {
    const [, accent, sex, name] = voice
    return `${name[0].toUpperCase()}${name.slice(1)} (${accent === 'a' ? 'American' : 'British'}, ${sex === 'f' ? 'female' : 'male'})`
  }
  const text = String(value).toLowerCase()
  return text[0].toUpperCase() + text.slice(1)
}

/** The allowed spelling of `value` (the API accepts any case), or `value` itself if none matches. */
export function canonical (allowed, value) {
  const folded = String(value ?? '').trim().toLowerCase()
  return allowed.find((item) => String(item).toLowerCase() === folded) ?? value
}
