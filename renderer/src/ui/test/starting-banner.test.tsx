// @vitest-environment happy-dom
// "Starting Kiln…" while the first connection waits for a backend that is still starting.
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useApp } from '../../store/app';
import { STARTING_DELAY_MS, StartingBanner } from '../StartingBanner';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe('StartingBanner', () => {
  it('appears when the first connect takes longer than a moment, and goes once connected', () => {
    vi.useFakeTimers();
    useApp.getState().set({ connection: { state: 'connecting', attempt: 1 } });
    render(<StartingBanner />);
    expect(screen.queryByTestId('starting-banner')).toBeNull(); // no flash on a fast start
    act(() => void vi.advanceTimersByTime(STARTING_DELAY_MS + 10));
    expect(screen.getByTestId('starting-banner').textContent).toBe('Starting Kiln…');
    act(() => useApp.getState().set({ connection: { state: 'open', hello: { protocol: 1, serverVersion: 't', capabilities: { desktop: true, buildServerRole: false, pairing: false } } } }));
    expect(screen.queryByTestId('starting-banner')).toBeNull();
  });
});
