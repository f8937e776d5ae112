// The transitions spec's dashboard example (spec/transitions-api-flow.md, "Code Example Matching
// This Flow"), unchanged below the marker. tests/unit/specExample.test.js runs it with `~` pointing
// at web/src; tests/web/test_web.py checks it still matches the spec where the spec is at hand.
// ---- verbatim from spec/transitions-api-flow.md below ----
import { useDashboardVideoStore } from '~/stores/dashboardVideo'

const videoStore = useDashboardVideoStore()

// Set parameters
videoStore.setFrontImage('https://example.com/front.jpg')
videoStore.setTailImage('https://example.com/tail.jpg')
videoStore.setPrompt('Dynamic video transition')
videoStore.setDuration(5)
videoStore.setTransitionType('energetic')
videoStore.setEnableSubtitles(true)
videoStore.addSubtitle()
videoStore.subtitles[0].startTime = 0
videoStore.subtitles[0].endTime = 2.5
videoStore.subtitles[0].text = 'First subtitle'

// Generate with polling (automatic)
try {
  const result = await videoStore.generateVideo((status) => {
    console.log('Poll response:', status)
    // Logs each poll response:
    // { task_id: '...', state: 'PENDING', ready: false }
    // { task_id: '...', state: 'PROCESSING', ready: false, info: {...} }
    // { task_id: '...', state: 'SUCCESS', ready: true, result: {...} }
  })
  
  console.log('Final result:', result)
  // {
  //   transition_id: 123,
  //   video_url: 'https://...',
  //   ...
  // }
  
} catch (error) {
  console.error('Error:', error.message)
}
