// The store thread's entry (see store-thread.ts): it opens the SQLite store and answers calls in
// the order they arrive, each one transaction as on the main thread. Only sealed secrets cross.
import { workerData } from 'node:worker_threads';
import { serveThread } from '../../../sqlite/thread-worker.ts';
import type { Store } from '../../port.ts';
import { openSqliteStore } from '../index.ts';
import { encodeResult, reviveCall, type StoreCall, type StoreWorkerData } from './wire.ts';

/** One call on the store, with the method and its arguments that belong together. */
function invoke(s: Store, call: StoreCall): Promise<unknown> {
  switch (call.method) {
    case 'declareLookups': return s.declareLookups(...call.args);
    case 'upsertAccounts': return s.upsertAccounts(...call.args);
    case 'removeAccountsNotIn': return s.removeAccountsNotIn(...call.args);
    case 'removeAccounts': return s.removeAccounts(...call.args);
    case 'countAccounts': return s.countAccounts(...call.args);
    case 'rememberedLinks': return s.rememberedLinks(...call.args);
    case 'getImportWatermark': return s.getImportWatermark(...call.args);
    case 'setImportWatermark': return s.setImportWatermark(...call.args);
    case 'getAccount': return s.getAccount(...call.args);
    case 'findAccountsByKey': return s.findAccountsByKey(...call.args);
    case 'applyLinks': return s.applyLinks(...call.args);
    case 'findPersonsByKey': return s.findPersonsByKey(...call.args);
    case 'link': return s.link(...call.args);
    case 'unlink': return s.unlink(...call.args);
    case 'getPerson': return s.getPerson(...call.args);
    case 'lookupSources': return s.lookupSources(...call.args);
    case 'searchPersons': return s.searchPersons(...call.args);
    case 'counts': return s.counts(...call.args);
    case 'commitChange': return s.commitChange(...call.args);
    case 'commitChanges': return s.commitChanges(...call.args);
    case 'claimJobs': return s.claimJobs(...call.args);
    case 'finishJob': return s.finishJob(...call.args);
    case 'finishJobs': return s.finishJobs(...call.args);
    case 'finishAndClaim': return s.finishAndClaim(...call.args);
    case 'recoverInProgress': return s.recoverInProgress(...call.args);
    case 'abandonSealedUnder': return s.abandonSealedUnder(...call.args);
    case 'nextRetryAt': return s.nextRetryAt(...call.args);
    case 'listJobs': return s.listJobs(...call.args);
    case 'sealedSecrets': return s.sealedSecrets(...call.args);
    case 'resealSecrets': return s.resealSecrets(...call.args);
    case 'rememberNotification': return s.rememberNotification(...call.args);
    case 'appendEvents': return s.appendEvents(...call.args);
    case 'listEvents': return s.listEvents(...call.args);
    case 'dataVersion': return s.dataVersion(...call.args);
  }
}

const { path } = workerData as StoreWorkerData;

await serveThread<StoreCall>('the store thread', async () => {
  const store = await openSqliteStore(path);
  return {
    answer: async (call) => encodeResult(call.method, await invoke(store, reviveCall(call))),
    close: () => store.close(),
  };
});
