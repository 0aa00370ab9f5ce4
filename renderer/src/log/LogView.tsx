// The virtualised log: react-virtuoso over a LogBuffer that lives outside React. Follows the
// bottom until the user scrolls more than 40 px up; scrolling back down re-arms it.
import { useCallback, useEffect, useRef, useState } from 'react';
import { Virtuoso, type VirtuosoHandle } from 'react-virtuoso';
import { AnsiLine } from './ansi';
import { logBuffer, useLogVersion } from './log-store';

export const PIN_THRESHOLD_PX = 40;

export function LogView({ jobId, repinKey }: { jobId: string; repinKey?: string }) {
  const version = useLogVersion((s) => s.versions[jobId] ?? 0);
  const buf = logBuffer(jobId);
  const ref = useRef<VirtuosoHandle>(null);
  const [atBottom, setAtBottom] = useState(true);
  const count = buf.length;

  // Re-pin on open and whenever the caller says so (running → done).
  useEffect(() => {
    setAtBottom(true);
    const t = requestAnimationFrame(() => ref.current?.scrollToIndex({ index: 'LAST', align: 'end' }));
    return () => cancelAnimationFrame(t);
  }, [jobId, repinKey]);

  const item = useCallback((index: number) => <div className="log-line"><AnsiLine text={buf.get(index)} /></div>, [buf, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const key = useCallback((index: number) => buf.droppedFront + index, [buf, version]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div className="log-wrap" data-testid="log-view" data-lines={count} data-version={version}>
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
