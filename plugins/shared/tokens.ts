/**
 * Injection tokens of the services the container plugins share (their
 * providers: containers/docker-service.ts, store/record-store-service.ts).
 * Plugins name them in explicit `@inject(SharedTokens.X)` decorators.
 */
export const SharedTokens = {
  /** dockerode client for the configured engine (DOCKER_HOST or the local socket). */
  Docker: Symbol.for('tideflow.shared.Docker'),
  /** RecordStore: spawn/kill/memory records (SQLite in the data dir, or PostgreSQL). */
  RecordStore: Symbol.for('tideflow.shared.RecordStore'),
} as const;
