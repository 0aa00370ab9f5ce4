// Receiver session registry (peer-link-protocol.md §13): sessions keyed by the sender's
// dashboard_id; a newer session displaces the older one with terminate{superseded}.
import type { EventBus } from '../events';
import type { ReceiverSession } from './session';

export class ReceiverSessionRegistry {
  private readonly sessions = new Map<string, ReceiverSession>();
  private readonly registerHooks = new Set<(s: ReceiverSession) => void>();
  private readonly unregisterHooks = new Set<(s: ReceiverSession, reason: string) => void>();

  constructor(
    private readonly bus: EventBus,
    private readonly report: (msg: string) => void = () => undefined,
  ) {}

  get(dashboardId: string): ReceiverSession | undefined {
    return this.sessions.get(dashboardId);
  }

  list(): ReceiverSession[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Called for every newly registered session, after any older one was superseded. The receiver
   * pushes its first queue_status here.
   */
  onRegister(fn: (s: ReceiverSession) => void): () => void {
    this.registerHooks.add(fn);
    return () => this.registerHooks.delete(fn);
  }

  /** Called when a registered session ends (drop that sender's in-flight submit state here). */
  onUnregister(fn: (s: ReceiverSession, reason: string) => void): () => void {
    this.unregisterHooks.add(fn);
    return () => this.unregisterHooks.delete(fn);
  }

  register(session: ReceiverSession): void {
    const old = this.sessions.get(session.dashboardId);
    this.sessions.set(session.dashboardId, session);
    if (old && old !== session) void old.close('superseded', 'a newer session from the same sender replaced this one');
    session.onClose((reason) => {
      if (this.sessions.get(session.dashboardId) === session) this.sessions.delete(session.dashboardId);
      for (const fn of [...this.unregisterHooks]) this.safe(() => fn(session, reason));
      this.bus.emit('receiver_session_closed', { dashboard_id: session.dashboardId, reason });
    });
    this.bus.emit('receiver_session_opened', { dashboard_id: session.dashboardId, label: session.label });
    for (const fn of [...this.registerHooks]) this.safe(() => fn(session));
  }

  /** Ends every session with the same reason (shutdown: server_shutting_down). */
  async closeAll(reason: string, detail = ''): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close(reason, detail)));
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(`session hook threw: ${(err as Error).message}`);
    }
  }
}
