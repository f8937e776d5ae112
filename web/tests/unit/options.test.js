// The page offers exactly the values the API accepts (docs/openapi.json, generated from the
// handlers), and says what went wrong in words a person reads.
import { readFileSync } from 'node:fs'

import { describe, expect, test } from 'vitest'

import { fieldErrors, itemKey, plainMessage } from '~/lib/errors'
import * as options from '~/lib/options'

const openapi = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8'))
const schemas = openapi.components.schemas

describe('allowed values', () => {
  test.each([
    ['TransitionType', 'TRANSITION_TYPES'],
    ['SubtitleStyle', 'SUBTITLE_STYLES'],
    ['SubtitlePosition', 'SUBTITLE_POSITIONS'],
    ['MusicType', 'MUSIC_TYPES'],
    ['Voice', 'VOICES'],
    ['DreamStyle', 'DREAM_STYLES']
  ])('%s', (schema, name) => {
    expect(options[name]).toEqual(schemas[schema].enum)
  })

  test('defaults and limits', () => {
    const request = schemas.TransitionRequest.properties
    expect(options.DEFAULT_DURATION).toBe(request.duration.default)
    expect(request.duration.description).toContain(options.DURATIONS.join(' or '))
    expect(options.LIMITS.promptChars).toBe(request.prompt.maxLength)
    expect(options.LIMITS.subtitles).toBe(request.subtitles.maxItems)
    expect(options.LIMITS.subtitleChars).toBe(schemas.Subtitle.properties.text.maxLength)
    expect(options.LIMITS.voiceoverChars).toBe(request.voiceover_text.anyOf.find((s) => s.maxLength).maxLength)
  })

  test('labels', () => {
    expect(options.label('ENERGETIC')).toBe('Energetic')
    expect(options.label('bm_george')).toBe('George (British, male)')
    expect(options.canonical(options.TRANSITION_TYPES, ' energetic ')).toBe('ENERGETIC')
    expect(options.canonical(options.TRANSITION_TYPES, 'wobbly')).toBe('wobbly') // the API will say why
  })
})

describe('errors in plain words', () => {
  test('a subtitle past the end is shown at its end time, whoever found it', () => {
    const fromApi = { loc: ['body', 'subtitles'], msg: 'subtitles[2].endTime (7.5) is past the end of the video (5 s)', type: 'subtitle_out_of_range' }
    expect(itemKey(fromApi)).toBe('subtitles.2.endTime')
    expect(plainMessage(fromApi)).toBe('Subtitle 3 ends at 7.5 s, after the end of the video (5 s).')
    const order = { loc: ['body', 'subtitles', 0], msg: 'startTime (3.0) must be before endTime (2.0)', type: 'subtitle_order' }
    expect(fieldErrors([order])).toEqual({ 'subtitles.0': 'Starts at 3 s but ends at 2 s: the start must come first.' })
  })

  test("unknown types keep the API's sentence; enums say Choose", () => {
    expect(plainMessage({ type: 'something_new', msg: 'A new rule' })).toBe('A new rule')
    expect(plainMessage({ type: 'enum', msg: "Input should be 'a' or 'b'" })).toBe("Choose 'a' or 'b'")
    expect(fieldErrors([{ loc: ['query', 'style'], msg: 'x', type: 'missing' }])).toEqual({ style: 'This is required.' })
  })
})
