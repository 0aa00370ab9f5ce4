// Drag-and-drop of a YAML file anywhere on the window (electron.md §6): content-first, so it
// works the same in the browser and in Electron. Other files are refused with a message; the
// page never navigates to a dropped file. In the desktop app the preload also tells us the
// file's path, which is only shown ("Imported from …"); the backend validates the content.
import { MAX_IMPORT_YAML_BYTES } from '../../../preload/contract';
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

export async function importDroppedFile(file: File): Promise<void> {
  const app = useApp.getState();
  if (!/\.ya?ml$/i.test(file.name)) {
    app.toast({ kind: 'error', title: 'Not a YAML file', body: `Only .yaml or .yml files can be dropped (got "${file.name}").` });
    return;
  }
  const tooLarge = () => app.toast({ kind: 'error', title: 'File too large', body: `"${file.name}" is larger than ${MAX_DROP_BYTES / 1024} KiB.` });
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
      if (!window.confirm(`A configuration named "${file.name}" already exists. Replace it with the dropped file?`)) {
        useApp.getState().set({ view: 'tasks', installDialog: { configuration: file.name } });
        return;
      }
      try {
        result = await api.importYaml({ name: file.name, content, overwrite: true });
      } catch (err2) {
        app.toast({ kind: 'error', title: `Could not import ${file.name}`, body: errorMessage(err2) });
        return;
      }
    } else {
      app.toast({ kind: 'error', title: `Could not import ${file.name}`, body: errorMessage(err) });
      return;
    }
  }
  app.toast({ kind: 'success', title: `Imported ${result.configuration}`, body: result.overwritten ? 'Replaced the existing file.' : '' });
  await refreshConfigurations().catch(() => undefined);
  useApp.getState().set({ view: 'tasks', installDialog: { configuration: result.configuration, ...(from ? { importedFrom: from } : {}) } });
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
    if (files.length > 1) useApp.getState().toast({ kind: 'info', title: 'One file at a time', body: `Importing "${files[0].name}" only.` });
    void importDroppedFile(files[0]);
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
