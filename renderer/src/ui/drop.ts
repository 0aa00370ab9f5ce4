// Drag-and-drop of a YAML file anywhere on the window (electron.md §6): content-first, so it
// works the same in the browser and in Electron. Other files are refused with a message; the
// page never navigates to a dropped file. In the desktop app the preload also tells us the
// file's path, which is only shown ("Imported from …"); the backend validates the content.
import { MAX_IMPORT_YAML_BYTES } from '../../../preload/contract';
import { create } from 'zustand';
import { useApp } from '../store/app';
import { errorMessage, getBackend, refreshConfigurations } from '../sync';

/** The backend's importYaml limit, checked here too so an oversize file never goes on the wire. */
export const MAX_DROP_BYTES = MAX_IMPORT_YAML_BYTES;
const MAX_SHOWN_PATH = 4096;

/** Where a dropped file came from, for display: '' in the browser or when it has no path. */
export function droppedFromPath(file: File): string {
  const bridge = typeof window !== 'undefined' ? window.bridge : undefined;
  if (typeof bridge?.pathForDisplay !== 'function') return '';
  let path: unknown;
  try {
    path = bridge.pathForDisplay(file);
  } catch {
    return '';
  }
  // Shown as text only; still refuse anything that is not a plausible single-line path.
  if (typeof path !== 'string' || path.length === 0 || path.length > MAX_SHOWN_PATH || /[\u0000-\u001f\u007f]/.test(path)) return '';
  return path;
}

/** The app's own "replace?" prompt (a Dialog, not window.confirm): one question at a time. */
interface ReplaceAsk {
  name: string;
  answer(replace: boolean): void;
}
export const useReplacePrompt = create<{ ask: ReplaceAsk | null }>(() => ({ ask: null }));

export function askReplace(name: string): Promise<boolean> {
  return new Promise((resolve) => {
    useReplacePrompt.setState({
      ask: {
        name,
        answer: (replace) => {
          useReplacePrompt.setState({ ask: null });
          resolve(replace);
        },
      },
    });
  });
}

/** Imports several files one after the other; the Install dialog opens when exactly one was imported. */
export async function importFiles(files: File[]): Promise<void> {
  const imported: Array<{ configuration: string; from: string }> = [];
  for (const f of files) {
    const r = await importOne(f);
    if (r) imported.push(r);
  }
  if (imported.length === 0) return;
  await refreshConfigurations().catch(() => undefined);
  if (imported.length === 1 && imported[0]) {
    const { configuration, from } = imported[0];
    useApp.getState().set({ view: 'tasks', installDialog: { configuration, ...(from ? { importedFrom: from } : {}) } });
  } else {
    useApp.getState().set({ view: 'tasks' });
  }
}

export async function importDroppedFile(file: File): Promise<void> {
  return importFiles([file]);
}

/** One file: validated, imported (asking before replacing); null when it was not imported. */
async function importOne(file: File): Promise<{ configuration: string; from: string } | null> {
  const app = useApp.getState();
  if (!/\.ya?ml$/i.test(file.name)) {
    app.toast({ kind: 'error', title: 'Not a YAML file', body: `Only .yaml or .yml files can be imported (got "${file.name}").` });
    return null;
  }
  const tooLarge = (): null => {
    app.toast({ kind: 'error', title: 'File too large', body: `"${file.name}" is larger than ${MAX_DROP_BYTES / 1024} KiB.` });
    return null;
  };
  if (file.size > MAX_DROP_BYTES) return tooLarge();
  const content = await file.text();
  // Decoding can grow the text (each invalid byte becomes U+FFFD, three bytes of UTF-8).
  if (new TextEncoder().encode(content).length > MAX_DROP_BYTES) return tooLarge();
  const from = droppedFromPath(file);
  const api = getBackend().api;
  let result;
  try {
    result = await api.importYaml({ name: file.name, content });
  } catch (err) {
    const e = err as { code?: string; data?: { reason?: string } };
    if (e.code === 'precondition_failed' && e.data?.reason === 'exists') {
      // Declining keeps the existing file and opens nothing.
      if (!(await askReplace(file.name))) return null;
      try {
        result = await api.importYaml({ name: file.name, content, overwrite: true });
      } catch (err2) {
        app.toast({ kind: 'error', title: `Could not import ${file.name}`, body: errorMessage(err2) });
        return null;
      }
    } else {
      app.toast({ kind: 'error', title: `Could not import ${file.name}`, body: errorMessage(err) });
      return null;
    }
  }
  // The device's one name (as in the rows: friendly name first), with the file it came from.
  await refreshConfigurations().catch(() => undefined);
  const entry = useApp.getState().configurations?.find((c) => c.name === result.configuration);
  app.toast({
    kind: 'success',
    title: `Imported ${entry?.friendlyName || entry?.deviceName || result.deviceName || result.configuration}`,
    body: `${result.configuration}${result.overwritten ? ' — replaced the existing file' : ''}`,
  });
  return { configuration: result.configuration, from };
}

/** Installs document-level handlers; returns the cleanup. */
export function installDropHandlers(): () => void {
  let depth = 0;
  const hasFiles = (e: DragEvent) => !!e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files');
  const onEnter = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth++;
    useApp.getState().set({ dragging: true });
  };
  const onOver = (e: DragEvent) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = hasFiles(e) ? 'copy' : 'none';
  };
  const onLeave = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) useApp.getState().set({ dragging: false });
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    depth = 0;
    useApp.getState().set({ dragging: false });
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length === 0) return;
    void importFiles(files);
  };
  document.addEventListener('dragenter', onEnter);
  document.addEventListener('dragover', onOver);
  document.addEventListener('dragleave', onLeave);
  document.addEventListener('drop', onDrop);
  return () => {
    document.removeEventListener('dragenter', onEnter);
    document.removeEventListener('dragover', onOver);
    document.removeEventListener('dragleave', onLeave);
    document.removeEventListener('drop', onDrop);
  };
}
