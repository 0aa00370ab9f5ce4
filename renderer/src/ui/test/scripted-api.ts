// The `api` half of a scripted BackendClient for renderer tests: every call is recorded, then
// answered by the test's implementation of that method (an unexpected method fails the call).
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
