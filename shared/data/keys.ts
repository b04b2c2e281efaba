/** Every key of the service table, spelled once. */
export const keys = {
  connection: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'CONNECTION#stripe' }),
  oauthState: (stateHash: string) => ({ pk: `STATE#${stateHash}`, sk: 'STATE' }),
  accountLink: (accountId: string, orgId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `ORG#${orgId}` }),
  accountLinks: (accountId: string) => ({ pk: `ACCOUNT#${accountId}` }),
  /** Per-org counters (outstanding OAuth states, rate limits). */
  orgCounter: (orgId: string, name: string) => ({ pk: `ORG#${orgId}`, sk: `COUNTER#${name}` }),
  cursor: (orgId: string, resource: string) => ({ pk: `ORG#${orgId}`, sk: `CURSOR#${resource}` }),
  webhookEvent: (eventId: string) => ({ pk: `EVENT#${eventId}`, sk: 'EVENT' }),
};

/** The sparse status index: only connected connections carry these attributes. */
export const CONNECTED_INDEX = { name: 'gsi1', pk: 'CONNECTED' } as const;
export const connectedIndexKeys = (orgId: string) => ({ gsi1pk: CONNECTED_INDEX.pk, gsi1sk: `ORG#${orgId}` });
