// The virtualised log: react-virtuoso over a LogBuffer that lives outside React. Follows the
// bottom until the user scrolls more than 40 px up; scrolling back down re-arms it. Each row
// starts with the colour state the rows above left (LogBuffer.ansiStateBefore, lazy + memoised).
// Earlier lines the backend still has are one click away at the top ("Load earlier lines");
// they are prepended without moving what is on screen (Virtuoso's firstItemIndex).
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Virtuoso, type VirtuosoHandle } from 'react-virtuoso';
import { AnsiLine } from './ansi';
import { logBuffer, useLogVersion } from './log-store';
import { firstErrorRow, searchLog } from './log-scan';

export const PIN_THRESHOLD_PX = 40;
/** Virtuoso index of the first row before any prepend (room to count down into). */
const FIRST_ITEM_INDEX = 10_000_000;

export interface LogViewProps {
  jobId: string;
  repinKey?: string;
  /** Fetches the lines before the first one shown (offered while the buffer's firstIndex > 0). */
  loadEarlier?: () => Promise<void>;
  /** Fetches every earlier line (a search covers the whole log, not only what is loaded). */
  loadAll?: () => Promise<void>;
}

export function LogView({ jobId, repinKey, loadEarlier, loadAll }: LogViewProps) {
  const version = useLogVersion((s) => s.versions[jobId] ?? 0);
  const buf = logBuffer(jobId);
  const ref = useRef<VirtuosoHandle>(null);
  const [atBottom, setAtBottom] = useState(true);
  const [loading, setLoading] = useState<'idle' | 'busy' | 'failed'>('idle');
  const count = buf.length;
  const firstItemIndex = FIRST_ITEM_INDEX - buf.prepended;
  const [query, setQuery] = useState('');
  const [current, setCurrent] = useState(0);
  const [jumped, setJumped] = useState(-1);
  const loadedAll = useRef(false);
  const hits = useMemo(() => searchLog(buf, query), [buf, query, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const hitSet = useMemo(() => new Set(hits), [hits]);
  const currentRow = hits.length > 0 ? hits[Math.min(current, hits.length - 1)] : jumped;

  const reveal = (row: number) => {
    setAtBottom(false);
    ref.current?.scrollToIndex({ index: row, align: 'center', behavior: 'auto' });
  };
  const onQuery = (q: string) => {
    setQuery(q);
    setCurrent(0);
    setJumped(-1);
    // The whole log: earlier lines the backend still holds are fetched once for a search.
    if (q.trim() && !loadedAll.current && buf.firstIndex > 0 && loadAll) {
      loadedAll.current = true;
      void loadAll().catch(() => (loadedAll.current = false));
    }
  };
  // Typing a search shows its first match.
  useEffect(() => {
    if (query.trim() && hits[0] !== undefined) reveal(hits[0]);
  }, [query]); // eslint-disable-line react-hooks/exhaustive-deps
  const step = (dir: 1 | -1) => {
    if (hits.length === 0) return;
    const next = (Math.min(current, hits.length - 1) + dir + hits.length) % hits.length;
    setCurrent(next);
    reveal(hits[next]!);
  };
  const jumpToError = async () => {
    if (!loadedAll.current && buf.firstIndex > 0 && loadAll) {
      loadedAll.current = true;
      await loadAll().catch(() => (loadedAll.current = false));
    }
    const row = firstErrorRow(buf);
    setQuery('');
    setJumped(row);
    if (row >= 0) reveal(row);
  };
  const hasError = useMemo(() => firstErrorRow(buf) >= 0, [buf, version]); // eslint-disable-line react-hooks/exhaustive-deps

  // Re-pin on open and whenever the caller says so (running → done).
  useEffect(() => {
    setAtBottom(true);
    const t = requestAnimationFrame(() => ref.current?.scrollToIndex({ index: 'LAST', align: 'end' }));
    return () => cancelAnimationFrame(t);
  }, [jobId, repinKey]);

  const item = useCallback(
    (index: number) => {
      const row = index - firstItemIndex;
      const cls = row === currentRow ? ' log-hit current' : hitSet.has(row) ? ' log-hit' : '';
      return (
        <div className={`log-line${cls}`} data-row={row}>
          <AnsiLine text={buf.get(row)} state={buf.ansiStateBefore(row)} />
        </div>
      );
    },
    [buf, version, firstItemIndex, hitSet, currentRow], // eslint-disable-line react-hooks/exhaustive-deps
  );
  // Stable across prepends (index grows with them) and cap drops (droppedFront grows).
  const key = useCallback((index: number) => buf.droppedFront + index, [buf, version]); // eslint-disable-line react-hooks/exhaustive-deps

  const earlier = buf.firstIndex;
  const onLoadEarlier = async () => {
    if (!loadEarlier) return;
    setLoading('busy');
    try {
      await loadEarlier();
      setLoading('idle');
    } catch {
      setLoading('failed');
    }
  };

  return (
    <div className="log-wrap" data-testid="log-view" data-lines={count} data-version={version} data-earlier={earlier}>
      <div className="log-search" role="search" aria-label="Search the log">
        <input
          type="search"
          className="input small"
          placeholder="Find in log"
          aria-label="Find in log"
          value={query}
          onChange={(e) => onQuery(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              step(e.shiftKey ? -1 : 1);
            }
          }}
          data-testid="log-search"
        />
        <span className="muted small log-search-count" aria-live="polite" data-testid="log-search-count">
          {query.trim() ? (hits.length === 0 ? 'No matches' : `${Math.min(current, hits.length - 1) + 1} of ${hits.length}`) : ''}
        </span>
        <button type="button" className="btn small" onClick={() => step(-1)} disabled={hits.length === 0} aria-label="Previous match" data-testid="log-search-prev">
          ↑
        </button>
        <button type="button" className="btn small" onClick={() => step(1)} disabled={hits.length === 0} aria-label="Next match" data-testid="log-search-next">
          ↓
        </button>
        {hasError ? (
          <button type="button" className="btn small" onClick={() => void jumpToError()} data-testid="jump-first-error">
            Jump to first error
          </button>
        ) : null}
      </div>
      {earlier > 0 && loadEarlier ? (
        <div className="log-notice log-earlier" data-testid="earlier-lines">
          <button type="button" className="link" disabled={loading === 'busy'} onClick={() => void onLoadEarlier()} data-testid="load-earlier">
            {loading === 'busy' ? 'Loading…' : 'Load earlier lines'}
          </button>{' '}
          ({earlier} more{loading === 'failed' ? '; loading failed, try again' : ''})
        </div>
      ) : null}
      {buf.skipped > 0 ? (
        <div className="log-notice" role="status">
          {buf.skipped} line{buf.skipped === 1 ? '' : 's'} skipped (the window could not keep up); download the log for the full output.
        </div>
      ) : null}
      {buf.droppedFront > 0 ? <div className="log-notice">{buf.droppedFront} earlier lines are not shown.</div> : null}
      {count === 0 ? (
        <div className="log-empty muted">No output yet.</div>
      ) : (
        <Virtuoso
          ref={ref}
          className="log"
          totalCount={count}
          firstItemIndex={firstItemIndex}
          itemContent={item}
          computeItemKey={key}
          initialTopMostItemIndex={{ index: 'LAST', align: 'end' }}
          followOutput={(isAtBottom) => (isAtBottom ? 'auto' : false)}
          atBottomThreshold={PIN_THRESHOLD_PX}
          atBottomStateChange={setAtBottom}
          increaseViewportBy={{ top: 400, bottom: 400 }}
          tabIndex={0}
          aria-label="Job output"
        />
      )}
      {!atBottom && count > 0 ? (
        <button
          type="button"
          className="btn small jump"
          onClick={() => ref.current?.scrollToIndex({ index: 'LAST', align: 'end', behavior: 'auto' })}
          data-testid="jump-bottom"
        >
          ↓ Follow output
        </button>
      ) : null}
    </div>
  );
}
