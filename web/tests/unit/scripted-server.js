// A real HTTP server on loopback that answers what a test scripted: "METHOD /path" → answers in
// order (the last one repeats). Requests are recorded with their headers and bodies.
import http from 'node:http'

export async function startScriptedServer () {
  const script = new Map()
  const requests = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname)
      requests.push({ method: req.method, url: req.url, path, headers: req.headers, body })
      const answers = script.get(`${req.method} ${path}`) ?? [{ status: 404, body: { detail: 'Not Found' } }]
      const answer = answers.length > 1 ? answers.shift() : answers[0]
      res.writeHead(answer.status ?? 200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(answer.body))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    set: (route, answers) => script.set(route, [...answers]),
    reset () { script.clear(); requests.length = 0 },
    close: () => new Promise((resolve) => server.close(resolve))
  }
}

export const answer = (body, status = 200) => ({ status, body })

export const TASK = 'arn:aws:states:us-east-1:123456789012:execution:videogen-video-generation:f7c3e8d1-9a2b-4c5d-8e7f-1a2b3c4d5e6f'
export const STATUS_PATH = `/api/transitions/task-status/${TASK}/`
export const RESULT = {
  transition_id: 123,
  generated_transition_id: 456,
  video_url: 'https://example.com/videos/generated_video.mp4',
  thumbnail_url: 'https://example.com/thumbnails/thumb.jpg',
  duration: 5,
  status: 'completed',
  created_at: '2024-01-15T10:30:00Z'
}
export const accepted = { task_id: TASK, status: 'pending', message: 'Transition creation and video generation started' }
export const pending = { task_id: TASK, state: 'PENDING', ready: false, info: null }
export const processing = { task_id: TASK, state: 'PROCESSING', ready: false, info: { current: 1, total: 100, status: 'Processing frames...' } }
export const success = { task_id: TASK, state: 'SUCCESS', ready: true, result: RESULT }
export const failure = { task_id: TASK, state: 'FAILURE', ready: true, error: 'Failed to process video: Invalid image format' }
