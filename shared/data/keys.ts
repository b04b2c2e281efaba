/** Every key of the service table, spelled once. */
export const keys = {
  connection: (orgId: string) => ({ pk: `ORG#${orgId}`, sk: 'CONNECTION#stripe' }),
  oauthState: (stateHash: string) => ({ pk: `STATE#${stateHash}`, sk: 'STATE' }),
  accountLink: (accountId: string, orgId: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `ORG#${orgId}` }),
  accountLinks: (accountId: string) => ({ pk: `ACCOUNT#${accountId}` }),
  /** Per-org counters (outstanding OAuth states, rate limits). */
  orgCounter: (orgId: string, name: string) => ({ pk: `ORG#${orgId}`, sk: `COUNTER#${name}` }),
  cursor: (orgId: string, resource: string) => ({ pk: `ORG#${orgId}`, sk: `CURSOR#${resource}` }),
  orphanedSecret: (orgId: string, secretName: string) => ({ pk: `ORG#${orgId}`, sk: `ORPHAN#${secretName}` }),
  webhookEvent: (eventId: string) => ({ pk: `EVENT#${eventId}`, sk: 'EVENT' }),
};

/** Keys of the records table: one partition per org and account, one item per object. */
export const recordKeys = {
  partition: (orgId: string, accountId: string) => `ORG#${orgId}#ACCT#${accountId}`,
  record: (orgId: string, accountId: string, resource: string, objectId: string) => ({
    pk: recordKeys.partition(orgId, accountId),
    sk: `${resource}#${objectId}`,
  }),
};

/** The sparse status index: only connected connections carry these attributes. */
export const CONNECTED_INDEX = { name: 'gsi1', pk: 'CONNECTED' } as const;
export const connectedIndexKeys = (orgId: string) => ({ gsi1pk: CONNECTED_INDEX.pk, gsi1sk: `ORG#${orgId}` });
