import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { createBackendClient } from './backend/backend';
import { useApp } from './store/app';
import { startSync } from './sync';
import './styles.css';

const SELECTED_KEY = 'kiln.selectedJob';

// Keep the selected job across reloads of this tab so a reload re-attaches to its live log.
try {
  const saved = sessionStorage.getItem(SELECTED_KEY);
  if (saved) useApp.getState().set({ selectedJobId: saved });
  useApp.subscribe((s, prev) => {
    if (s.selectedJobId === prev.selectedJobId) return;
    if (s.selectedJobId) sessionStorage.setItem(SELECTED_KEY, s.selectedJobId);
    else sessionStorage.removeItem(SELECTED_KEY);
  });
} catch {
  /* no storage: selection is simply not restored */
}

startSync(createBackendClient());

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
