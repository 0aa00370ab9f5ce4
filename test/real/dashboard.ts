// A client for upstream's dashboard WebSocket API (`/ws`), speaking it the way its web UI does:
// `{command, message_id, args}` → `{message_id, result}` | `{message_id, error_code, details}`,
// with `{message_id, event, data}` pushes for subscriptions (firmware/follow_job and friends).
import WebSocket from 'ws';

export interface DashEvent { message_id: string; event: string; data: unknown }

export class DashboardClient {
  private next = 1;
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly events: DashEvent[] = [];
  serverInfo: Record<string, unknown> | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as Record<string, unknown>;
      if ('server_version' in msg) { this.serverInfo = msg; return; }
      const id = String(msg.message_id ?? '');
      if ('event' in msg) { this.events.push(msg as unknown as DashEvent); return; }
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if ('error_code' in msg) p.reject(new Error(`${String(msg.error_code)}: ${String(msg.details ?? '')}`));
      else p.resolve(msg.result);
    });
  }

  static async connect(httpPort: number): Promise<DashboardClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/ws`);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return new DashboardClient(ws);
  }

  call<T = unknown>(command: string, args: Record<string, unknown> = {}): Promise<T> {
    const message_id = String(this.next++);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(message_id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ command, message_id, args }));
    });
  }

  /** Starts a streaming command and returns its message id (events carry it). */
  subscribe(command: string, args: Record<string, unknown> = {}): string {
    const message_id = String(this.next++);
    this.pending.set(message_id, { resolve: () => {}, reject: () => {} });
    this.ws.send(JSON.stringify({ command, message_id, args }));
    return message_id;
  }

  close(): void {
    this.ws.close();
  }
}
