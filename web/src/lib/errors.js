// What went wrong, in plain words, and where: the API's 422 items become messages keyed by the
// field they name; other failures become one sentence.

/** `['body', 'subtitles', 0, 'endTime']` → `'subtitles.0.endTime'` (the form's field keys). */
export function fieldKey (loc = []) {
  const parts = [...loc]
  if (parts[0] === 'body' || parts[0] === 'query') parts.shift()
  return parts.join('.') || 'request'
}

const PLAIN = {
  url_parsing: 'Enter a web address starting with http:// or https://, or upload a file.',
  url_scheme: 'Only http:// and https:// addresses can be fetched: paste another address or upload a file.',
  url_type: 'Enter a web address starting with http:// or https://, or upload a file.',
  url_too_long: 'This address is too long.',
  missing: 'This is required.',
  float_type: 'Enter a number of seconds.',
  float_parsing: 'Enter a number of seconds.',
  greater_than_equal: 'Times start at 0 seconds.',
  greater_than: 'Must be more than 0 seconds.',
  string_too_short: 'Write something here.',
  content_type_not_allowed: 'Only JPEG, PNG and WebP images can be uploaded.',
  content_length_out_of_range: 'This file is too large: images up to 20 MB can be uploaded.'
}

const OUT_OF_RANGE = /^subtitles\[(\d+)\]\.endTime \(([\d.]+)\) is past the end of the video \((\d+) s\)/
const ORDER = /^startTime \(([\d.]+)\) must be before endTime \(([\d.]+)\)/
const seconds = (text) => String(Number(text))

/**
 * The field a 422 item is about. The API reports a subtitle past the video's end on the whole
 * list (its message names the cue); the page shows it next to that cue's end time.
 */
export function itemKey ({ loc, type, msg } = {}) {
  const found = type === 'subtitle_out_of_range' && OUT_OF_RANGE.exec(msg ?? '')
  return found ? `subtitles.${found[1]}.endTime` : fieldKey(loc)
}

/** One 422 item in plain words: ours for the common types, else the API's own sentence. */
export function plainMessage ({ type, msg } = {}) {
  const outOfRange = type === 'subtitle_out_of_range' && OUT_OF_RANGE.exec(msg ?? '')
  if (outOfRange) {
    const [, index, end, duration] = outOfRange
    return `Subtitle ${Number(index) + 1} ends at ${seconds(end)} s, after the end of the video (${duration} s).`
  }
  const order = type === 'subtitle_order' && ORDER.exec(msg ?? '')
  if (order) return `Starts at ${seconds(order[1])} s but ends at ${seconds(order[2])} s: the start must come first.`
  if (PLAIN[type]) return PLAIN[type]
  if (type === 'enum' && msg) return msg.replace(/^Input should be/, 'Choose')
  return msg || 'This value was not accepted.'
}

/** The API's 422 `detail` list → `{ fieldKey: message }` (the first message for each field). */
export function fieldErrors (detail) {
  const found = {}
  for (const item of Array.isArray(detail) ? detail : []) {
    const key = itemKey(item)
    if (!(key in found)) found[key] = plainMessage(item)
  }
  return found
}

/** Any failure of a call or a task, in one sentence for a person. */
export function describeError (error) {
  if (!error) return ''
  if (error.kind === 'failure') return `The video could not be made: ${error.message}`
  if (error.kind === 'timeout') return 'Still not finished after the usual time. The task may still be running: check it again later.'
  if (error.kind === 'network') return 'The service cannot be reached. Check your connection and try again.'
  switch (error.status) {
    case 401: return 'The token was not accepted. Enter a valid token above.'
    case 403: return 'This token may not do that.'
    case 404: return 'That task does not exist (or belongs to another token).'
    case 422: return 'Some fields need fixing: see the messages next to them.'
    case 429: return 'Too many requests just now. Wait a moment and try again.'
  }
  if (error.status >= 500) return `The service had a problem (HTTP ${error.status}). Try again in a moment.`
  return error.message || String(error)
}
