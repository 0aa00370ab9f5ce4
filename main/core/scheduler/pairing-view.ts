// A view of the pairing store limited to some build servers, with remote builds on for this run
// — what `kiln build-all --server A --server B` hands to the peer-link clients and the dispatch
// pool, so the batch is spread over exactly the named servers without touching the user's saved
// settings or pairings. Reads and writes of everything else go to the real store.
import type { OffloaderSettings, PairingStore } from '../peer-link/pairing-store';

export function pairingView(store: PairingStore, pins: ReadonlySet<string>, settings: Partial<OffloaderSettings>): PairingStore {
  // A Proxy whose other members run on the real store itself (`this` = the store: its writes stay
  // serialised and its listeners shared); only what decides *which* servers and *whether* differs.
  const overrides: Partial<Record<PropertyKey, unknown>> = {
    list: () => store.list().filter((p) => pins.has(p.pin_sha256)),
    get: (pin: string) => (pins.has(pin) ? store.get(pin) : undefined),
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'settings') return { ...target.settings, ...settings };
      if (prop in overrides) return overrides[prop];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
