// A recording stand-in for bonjour-service (mdns.ts's BonjourLike), so no test ever multicasts:
// every publish is kept with whether it was stopped; find() hands out one scriptable browser.
import { EventEmitter } from 'node:events';
import type { BonjourLike, MdnsBrowserHandle, MdnsDiscoveredService, MdnsPublishConfig } from '../mdns';

export class FakeBonjour implements BonjourLike {
  readonly published: Array<{ cfg: MdnsPublishConfig; stopped: boolean }> = [];
  readonly browser = Object.assign(new EventEmitter(), {
    services: [] as MdnsDiscoveredService[],
    stopped: false,
    stop() {
      this.stopped = true;
    },
  });
  /** Make publish() throw, like a stack whose socket cannot be used. */
  failPublish = false;

  publish(cfg: MdnsPublishConfig) {
    if (this.failPublish) throw new Error('multicast unavailable');
    const entry = { cfg, stopped: false };
    this.published.push(entry);
    return {
      stop: (cb?: () => void) => {
        entry.stopped = true;
        cb?.();
      },
    };
  }

  find(): MdnsBrowserHandle {
    return this.browser;
  }

  /** Records published and not stopped since. */
  live(): MdnsPublishConfig[] {
    return this.published.filter((p) => !p.stopped).map((p) => p.cfg);
  }
}
