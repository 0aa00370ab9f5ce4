// A scripted BackendClient for renderer tests: every api call is recorded, then answered by the
// test's implementation of that method (an unexpected method fails the call); events are pushed
// by the test. `scriptedApi` is the `api` half alone.
import { act } from '@testing-library/react';
import type { EventName, FrontendEvents } from '../../../../preload/contract';
import type { BackendClient } from '../../backend/backend';

export interface RecordedCall<P = unknown> {
  method: string;
  params: P;
}

export function scriptedApi<P = unknown>(impl: Record<string, (params: P) => unknown>, calls: Array<RecordedCall<P>>): unknown {
  return new Proxy(
    {},
    {
      get: (_t, method: string) => async (params: P) => {
        calls.push({ method, params });
        const fn = impl[method];
        if (!fn) throw new Error(`unexpected call ${method}`);
        return fn(params);
      },
    },
  );
}

type Capabilities = { desktop: boolean; buildServerRole: boolean; pairing: boolean };

/** The answers a window asks for on connect (environment, settings, pause, jobs, configurations,
 * build servers, identity); a test's own `impl` entries override them. */
export function connectAnswers(): Record<string, (params: never) => unknown> {
  return {
    getEnvironment: () => ({ appVersion: 't', configDir: '/c', dataDir: '/d', esphome: { command: ['esphome'], found: true, version: '2026.1.0', simulator: false, error: '' } }),
    getSettings: () => ({ esphomeCommand: [], configDir: '/c', remoteBuildsEnabled: false, includeLocalInPool: true, versionPolicy: 'any', notifications: true }),
    getQueuePause: () => ({ paused: false }),
    getJobs: () => [],
    getJobsPage: () => ({ jobs: [], total: 0, nextCursor: null }),
    listConfigurations: () => [],
    listBuildServers: () => [],
    getIdentity: () => ({ pin: '0'.repeat(64), dashboardId: 'x', label: 'x' }),
  };
}

/**
 * A scripted BackendClient (web mode, open): api calls are recorded and answered by `impl`,
 * events are pushed with `emit()`, `connect()` fires the sync's connect callbacks and lets their
 * fetches settle.
 */
export function scriptedBackend(impl: Record<string, (params: never) => unknown>, capabilities: Partial<Capabilities> = {}) {
  const calls: RecordedCall[] = [];
  const handlers = new Map<string, Array<(d: unknown) => void>>();
  const connected: Array<() => void> = [];
  const backend = {
    api: scriptedApi(impl as Record<string, (params: unknown) => unknown>, calls),
    mode: 'web',
    status: () => ({ state: 'open', hello: { protocol: 1, serverVersion: 't', capabilities: { desktop: false, buildServerRole: false, pairing: false, ...capabilities } } }),
    onStatus: () => () => undefined,
    on: (event: string, fn: (d: unknown) => void) => {
      handlers.set(event, [...(handlers.get(event) ?? []), fn]);
      return () => handlers.set(event, (handlers.get(event) ?? []).filter((f) => f !== fn));
    },
    onConnected: (fn: () => void) => {
      connected.push(fn);
      return () => undefined;
    },
    close: () => undefined,
  } as unknown as BackendClient;
  return {
    backend,
    calls,
    methods: () => calls.map((c) => c.method),
    count: (method: string) => calls.filter((c) => c.method === method).length,
    emit<E extends EventName>(event: E, data: FrontendEvents[E]) {
      for (const fn of handlers.get(event) ?? []) fn(data);
    },
    /** Subscribers of an event right now. */
    listeners: (event: EventName) => (handlers.get(event) ?? []).length,
    async connect() {
      await act(async () => {
        for (const fn of connected) fn();
        await new Promise((r) => setTimeout(r, 10));
      });
    },
  };
}
