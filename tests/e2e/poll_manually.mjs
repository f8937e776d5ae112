// The transitions spec's `pollManually` loop, pasted unchanged, with a fetch-based
// `createAndGenerateVideo` / `checkTaskStatus` pointing at the twin.
// Usage: node poll_manually.mjs BASE_URL TOKEN REQUEST_JSON
const [baseUrl, token, requestJson] = process.argv.slice(2)
const params = JSON.parse(requestJson)
const headers = { Authorization: `Token ${token}`, 'Content-Type': 'application/json' }

const createAndGenerateVideo = async (body) => {
  const response = await fetch(`${baseUrl}/api/transitions/create-and-generate/`, {
    method: 'POST', headers, body: JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`Request failed with status ${response.status}`)
  return response.json()
}

const checkTaskStatus = async (taskId) => {
  const response = await fetch(`${baseUrl}/api/transitions/task-status/${taskId}/`, { headers })
  if (!response.ok) throw new Error(`Request failed with status ${response.status}`)
  return response.json()
}

// Step 1: Start generation
const { task_id } = await createAndGenerateVideo(params)

// Step 2: Manual polling (verbatim from spec/transitions-api-flow.md)
const pollManually = async () => {
  while (true) {
    await new Promise(resolve => setTimeout(resolve, 2000)) // Wait 2s
    
    const status = await checkTaskStatus(task_id)
    console.log('Status:', status)
    
    if (status.ready) {
      if (status.state === 'SUCCESS') {
        return status.result
      } else {
        throw new Error(status.error)
      }
    }
  }
}

const result = await pollManually()
console.log(JSON.stringify(result))
