import type { OAuthState } from '../domain/connection.js';

/** Single-use OAuth states (the raw state is never stored: its hash is the key). */
export interface OAuthStateStore {
  /** Refuses a state whose hash is already stored. */
  putState(state: OAuthState): Promise<void>;
  /** Deletes the state and returns it, atomically: of two concurrent callers, one gets it. */
  consumeState(stateHash: string): Promise<OAuthState | undefined>;
}
