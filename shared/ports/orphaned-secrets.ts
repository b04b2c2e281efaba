/** Notes of token secrets that are to go (a failed delete, a replaced connection's). */
export interface OrphanedSecretStore {
  /**
   * Remembers a secret that is to go (it could not be deleted, or is about to
   * be replaced): from `dueAt` (ISO) the sweep deletes it unless one of the org's
   * connections uses it. None is left behind.
   */
  noteOrphanedSecret(orgId: string, secretName: string, dueAt?: string): Promise<void>;
  /** Orgs with orphan notes due by `now`. */
  dueOrphans(now: string): AsyncIterable<{ orgId: string }>;
  /** The org's orphan notes, each with when it falls due. */
  orphanedSecrets(orgId: string): Promise<Array<{ secretName: string; dueAt: string }>>;
  forgetOrphanedSecret(orgId: string, secretName: string): Promise<void>;
}
