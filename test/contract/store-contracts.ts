// Every store contract in one call, so each implementation's runner proves all of them alike.
import { identityStoreContract } from './store-identity.contract.js';
import { migrated, type OpenStore } from './store-fixtures.js';
import { messageStoreContract } from './store-messages.contract.js';
import { retentionStoreContract } from './store-retention.contract.js';
import { subscriberStoreContract } from './store-subscribers.contract.js';
import { storeContract } from './store.contract.js';

/** Runs the Store contract and every role's suite on stores from `open()` (each suite gets fresh ones). */
export function allStoreContracts(name: string, open: OpenStore): void {
  storeContract(name, open);
  messageStoreContract(name, migrated(open));
  retentionStoreContract(name, migrated(open));
  identityStoreContract(name, migrated(open));
  subscriberStoreContract(name, migrated(open));
}
