// Receiver session registry (peer-link-protocol.md §13): sessions keyed by the sender's
// dashboard_id; a newer session displaces the older one with terminate{superseded}.
import type { EventBus } from '../events';
import type { BuildServerSession } from './session';

export class ReceiverSessionRegistry {
  private readonly sessions = new Map<string, BuildServerSession>();
  private readonly registerHooks = new Set<(s: BuildServerSession) => void>();
  private readonly unregisterHooks = new Set<(s: BuildServerSession, reason: string) => void>();

  constructor(
    private readonly bus: EventBus,
    private readonly report: (msg: string) => void = () => undefined,
  ) {}

  get(dashboardId: string): BuildServerSession | undefined {
    return this.sessions.get(dashboardId);
  }

  list(): BuildServerSession[] {
    return [...this.sessions.values()];
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Called for every newly registered session, after any older one was superseded. The receiver
   * pushes its first queue_status here.
   */
  onRegister(fn: (s: BuildServerSession) => void): () => void {
    this.registerHooks.add(fn);
    return () => this.registerHooks.delete(fn);
  }

  /** Called when a registered session ends (drop that sender's in-flight submit state here). */
  onUnregister(fn: (s: BuildServerSession, reason: string) => void): () => void {
    this.unregisterHooks.add(fn);
    return () => this.unregisterHooks.delete(fn);
  }

  register(session: BuildServerSession): void {
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
