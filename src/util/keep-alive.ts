/**
 * Keeps the Node process alive while a caller awaits durastream, as an open socket would.
 *
 * Much of what a caller awaits has no handle of its own that Node counts: a live read waits on a
 * promise that the next durable append resolves, an append waits for the engine's flush, an open
 * append session waits for its next submit. With nothing else pending, Node would exit with the
 * caller's `await` unsettled (exit code 13 at the top level of a module). Each of these holds the
 * event loop through `holdEventLoop()` and releases it when it ends, however it ends.
 *
 * One ref'd interval timer is shared by every holder; it is ref'd while at least one holder
 * exists and unref'd otherwise, so holding and releasing cost a counter and, on the first and
 * last holder, one `ref()`/`unref()` call. The timer never fires work: it is a handle, not time.
 */

/** The interval of the shared timer: the longest Node accepts, so that it practically never fires. */
const KEEP_ALIVE_INTERVAL_MS = 2 ** 31 - 1;

let holders = 0;
let timer: NodeJS.Timeout | undefined;

/** Releases one hold on the event loop; calling it again does nothing. */
export type ReleaseEventLoop = () => void;

/** Holds the event loop open until the returned function is called. */
export function holdEventLoop(): ReleaseEventLoop {
  timer ??= setInterval(() => undefined, KEEP_ALIVE_INTERVAL_MS).unref();
  if (holders++ === 0) timer.ref();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) timer!.unref();
  };
}

/** How many holds are open (tests check that everything released its hold). */
export function eventLoopHolds(): number {
  return holders;
}
