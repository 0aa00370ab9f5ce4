// Advice that fits the kind of failure (issue 16): a configuration error is fixed in the YAML
// (with file and line), a compile error in the code, an upload error at the device's connection,
// a lost build server by building again. Never "clean build files" for a YAML error, never "ask
// the operator of that build server" about the user's own code.
import type { Job } from '../../../preload/contract';

export interface Advice {
  title: string;
  /** "kitchen.yaml, line 12" — where to look, when esphome or the compiler said. */
  where: string;
  text: string;
  /** Offer "Clean build files" (only for build failures the log does not explain). */
  offerClean: boolean;
  /** Offer "Build on this computer" (a build server was lost). */
  offerLocal: boolean;
  /** Offer Settings (esphome missing). */
  offerSettings: boolean;
}

function whereOf(job: Job): string {
  const f = job.failure;
  if (!f?.file) return '';
  const name = f.file.split('/').pop();
  return `${name}${f.lineNo ? `, line ${f.lineNo}` : ''}${f.column ? `, column ${f.column}` : ''}`;
}

export function adviceFor(job: Job, serverLabel: string): Advice {
  const f = job.failure;
  const kind = f?.kind ?? 'other';
  const where = whereOf(job);
  const base = { where, offerClean: false, offerLocal: false, offerSettings: false };
  switch (kind) {
    case 'config':
      return { ...base, title: 'Configuration error', text: `Fix the YAML${where ? ` at ${where}` : ''}, then install again.` };
    case 'compile':
      return {
        ...base,
        title: 'Compile error',
        text: f?.file
          ? `The compiler stopped at ${where} — usually code in a lambda or a custom component. Fix it in the YAML, then try again.`
          : 'The compiler stopped; the log above shows where.',
        offerClean: !f?.file,
      };
    case 'upload':
      return {
        ...base,
        title: 'Upload failed',
        text:
          job.port && job.port !== 'OTA' && job.port.startsWith('/')
            ? `Check that the device is connected to ${job.port} with a data USB cable, then Retry.`
            : 'Check that the device is powered and on the network (or connect it by USB), then Retry.',
      };
    case 'server_lost':
      return { ...base, title: `Lost ${serverLabel || 'the build server'} mid-build`, text: 'The build server stopped answering. Build it again here, or Retry when it is back.', offerLocal: true };
    case 'esphome':
      return { ...base, title: 'ESPHome could not run', text: 'Install ESPHome or set the esphome command in Settings.', offerSettings: true };
    default:
      return {
        ...base,
        title: 'Failed',
        text: 'Try cleaning the build files for this device; if that does not help, reset the build environment.',
        offerClean: job.job_type === 'compile' || job.job_type === 'install',
      };
  }
}
