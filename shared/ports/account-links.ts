import type { AccountLink } from '../domain/connection.js';

/** Which orgs' connections a Stripe account's webhook events belong to. */
export interface AccountLinkStore {
  /** Each connection has its own link: writing it never replaces another connection's. */
  putAccountLink(link: AccountLink): Promise<void>;
  /** Deletes this connection's link (and nobody else's). */
  deleteAccountLink(accountId: string, orgId: string, connectionId: string): Promise<void>;
  accountLinks(accountId: string): Promise<AccountLink[]>;
}
