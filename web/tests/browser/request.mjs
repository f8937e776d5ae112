// The transitions spec's example request, with the twin's example images.
import { BASE_URL } from './harness.mjs'

export const spec = () => ({
  front_image: `${BASE_URL}/examples/front.jpg`,
  tail_image: `${BASE_URL}/examples/tail.jpg`,
  prompt: 'Dynamic video transition',
  duration: 5,
  transition_type: 'ENERGETIC',
  enable_subtitles: true,
  subtitle_style: 'default',
  subtitle_position: 'bottom',
  subtitles: [{ startTime: 0, endTime: 2.5, text: 'First subtitle' }],
  enable_music: true,
  music_type: 'ambient',
  enable_voiceover: false
})
