// The checks the API makes on a transition request's subtitles, duration, prompt and voiceover
// (functions/service/models/api.py: Subtitle, TransitionRequest), made before sending so the
// page can point at a field at once. Errors have the API's 422 shape ({ loc, msg, type }) and
// the same loc and type as the API's for the same request: tests/web/test_validation_parity.py
// runs one table of requests through both. The API stays the judge; this only saves a round trip.
import { DURATIONS, LIMITS } from './options.js'

const isNumber = (value) => typeof value === 'number' && Number.isFinite(value)
const fmt = (value) => String(value)

function checkSubtitle (cue, index) {
  const at = (...rest) => ['body', 'subtitles', index, ...rest]
  const errors = []
  if (!isNumber(cue.startTime)) {
    errors.push({ loc: at('startTime'), msg: 'Enter the start time in seconds', type: 'float_type' })
  } else if (cue.startTime < 0) {
    errors.push({ loc: at('startTime'), msg: 'Input should be greater than or equal to 0', type: 'greater_than_equal' })
  }
  if (!isNumber(cue.endTime)) {
    errors.push({ loc: at('endTime'), msg: 'Enter the end time in seconds', type: 'float_type' })
  } else if (cue.endTime <= 0) {
    errors.push({ loc: at('endTime'), msg: 'Input should be greater than 0', type: 'greater_than' })
  }
  const text = typeof cue.text === 'string' ? cue.text.trim() : ''
  if (text.length < 1) {
    errors.push({ loc: at('text'), msg: 'String should have at least 1 character', type: 'string_too_short' })
  } else if (text.length > LIMITS.subtitleChars) {
    errors.push({ loc: at('text'), msg: `String should have at most ${LIMITS.subtitleChars} characters`, type: 'string_too_long' })
  }
  // Like pydantic's model validator, the order check runs only once every field is valid.
  if (!errors.length && cue.startTime >= cue.endTime) {
    errors.push({
      loc: at(),
      msg: `startTime (${fmt(cue.startTime)}) must be before endTime (${fmt(cue.endTime)})`,
      type: 'subtitle_order'
    })
  }
  return errors
}

/**
 * The API's checks of a transition request body, as a list of 422 items (empty: nothing to say).
 * @param {import('../client/videoGenerationApi').TransitionParams} body
 */
export function checkTransition (body) {
  const errors = []
  if (typeof body.prompt === 'string' && body.prompt.trim().length > LIMITS.promptChars) {
    errors.push({ loc: ['body', 'prompt'], msg: `String should have at most ${LIMITS.promptChars} characters`, type: 'string_too_long' })
  }
  const durationOk = DURATIONS.includes(body.duration)
  if (!durationOk) {
    errors.push({
      loc: ['body', 'duration'],
      msg: `duration must be ${DURATIONS.join(' or ')} seconds (the transition model renders only these lengths)`,
      type: 'duration_not_allowed'
    })
  }
  const subtitles = body.subtitles ?? []
  let subtitlesOk = true
  if (subtitles.length > LIMITS.subtitles) {
    subtitlesOk = false
    errors.push({ loc: ['body', 'subtitles'], msg: `List should have at most ${LIMITS.subtitles} items`, type: 'too_long' })
  } else {
    subtitles.forEach((cue, index) => {
      const found = checkSubtitle(cue, index)
      if (found.length) subtitlesOk = false
      errors.push(...found)
    })
  }
  // The API's list check: only with subtitles on, a valid duration and every cue valid; it names the first cue past the end.
  if (subtitlesOk && durationOk && body.enable_subtitles) {
    const index = subtitles.findIndex((cue) => cue.endTime > body.duration)
    if (index >= 0) {
      subtitlesOk = false // the API then has no subtitles to speak either
      errors.push({
        loc: ['body', 'subtitles'],
        msg: `subtitles[${index}].endTime (${fmt(subtitles[index].endTime)}) is past the end of the video (${body.duration} s)`,
        type: 'subtitle_out_of_range'
      })
    }
  }
  const spoken = typeof body.voiceover_text === 'string' ? body.voiceover_text.trim() : ''
  if (spoken.length > LIMITS.voiceoverChars) {
    errors.push({ loc: ['body', 'voiceover_text'], msg: `String should have at most ${LIMITS.voiceoverChars} characters`, type: 'string_too_long' })
  } else if (body.enable_voiceover && !spoken && !(body.enable_subtitles && subtitlesOk && subtitles.length)) {
    errors.push({
      loc: ['body', 'voiceover_text'],
      msg: 'enable_voiceover needs something to say: send voiceover_text, or enabled subtitles to speak',
      type: 'voiceover_text_missing'
    })
  }
  return errors
}
