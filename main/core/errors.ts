// Errors that cross the API boundary as `{code, message, data?}` (firmware-jobs.md §15).
export const API_ERROR_CODES = [
  'invalid_args',
  'not_found',
  'internal_error',
  'unavailable',
  'precondition_failed',
  'no_pairing_window',
  'no_compatible_peer',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { code: ApiErrorCode; message: string; data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError('internal_error', message);
}
