// The desktop transport acknowledges what it handled ({t:'rcv', n}) so main can apply the log
// back-pressure over the MessagePort (main/electron/rpc-port.ts). Real MessageChannel.
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../../../test/support/wait-until';
import { portChannel } from '../transports';

describe('MessagePort transport receipts', () => {
  it('announces receipts at once, then acknowledges handled messages in batches', async () => {
    const { port1: mainEnd, port2: pageEnd } = new MessageChannel();
    const fromPage: unknown[] = [];
    mainEnd.onmessage = (e) => fromPage.push(e.data);
    const ch = portChannel(pageEnd);
    const got: unknown[] = [];
    ch.onMessage((m) => got.push(m));
    await waitUntil(() => fromPage.length === 1);
    expect(fromPage[0]).toEqual({ t: 'rcv', n: 0 });
    for (let i = 0; i < 5; i++) mainEnd.postMessage({ t: 'evt', event: 'toast', data: { i } });
    await waitUntil(() => fromPage.some((m) => (m as { n: number }).n === 5));
    expect(got).toHaveLength(5);
    // batched: far fewer receipts than messages
    expect(fromPage.length).toBeLessThanOrEqual(3);
    ch.close();
    mainEnd.close();
  });
});
