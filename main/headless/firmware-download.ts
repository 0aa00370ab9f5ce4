// `kiln serve`'s firmware download (issue 15): GET /firmware/<build id>/<ota|factory> with the
// session token in an `Authorization: Bearer …` header (the page fetches it and saves the blob,
// so the token never appears in a URL, a history entry or a server log). The file is re-hashed
// before it is sent: a damaged library file is refused rather than handed out.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { firmwareFileName } from '../core/api/firmware-api';
import { SECURITY_HEADERS } from '../core/csp';
import type { FirmwareLibrary } from '../core/firmware/store';

export const FIRMWARE_PATH = /^\/firmware\/([0-9a-z]{6,16}-[0-9a-f]{8})\/(ota|factory)$/;

function tokenMatches(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (m?.[1] === undefined) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...extra });
  res.end(`${text}\n`);
}

/** Answers a /firmware/… request. `pathname` is already decoded. */
export async function serveFirmwareDownload(req: IncomingMessage, res: ServerResponse, pathname: string, token: string, library: FirmwareLibrary | undefined): Promise<void> {
  if (!tokenMatches(req, token)) return plain(res, 401, 'Unauthorized: the session token is required', { 'WWW-Authenticate': 'Bearer' });
  const m = FIRMWARE_PATH.exec(pathname);
  if (m?.[1] === undefined || !library) return plain(res, 404, 'Not found');
  const entry = await library.get(m[1]);
  const image = entry?.images.find((i) => i.role === m[2]);
  if (!entry || !image) return plain(res, 404, `No ${m[2]} image in firmware build ${m[1]}`);
  let data: Buffer;
  try {
    data = await readFile(join(entry.dir, image.file));
  } catch {
    return plain(res, 410, `The ${m[2]} image of build ${m[1]} is missing from the library`);
  }
  if (createHash('sha256').update(data).digest('hex') !== image.sha256) return plain(res, 409, `The ${m[2]} image of build ${m[1]} is damaged (SHA-256 mismatch)`);
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(data.length),
    'Content-Disposition': `attachment; filename="${firmwareFileName(entry, m[2] as 'ota' | 'factory')}"`,
    'Cache-Control': 'no-store',
  });
  if (req.method === 'HEAD') return void res.end();
  res.end(data);
}
