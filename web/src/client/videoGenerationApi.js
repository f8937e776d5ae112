// The spec's `~/client/videoGenerationApi`: the repository's one JS client (clients/js), unchanged.
export * from '../../../clients/js/videoGenerationApi.js'
