import { randomBytes } from 'node:crypto';

/** A fresh dashboard_id: 24 random bytes, base64url without padding (32 chars, §3). */
export function newDashboardId(): string {
  return randomBytes(24).toString('base64url');
}
