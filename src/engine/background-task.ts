/**
 * A background loop that runs at most once at a time: `kick()` starts it unless it is running,
 * `idle()` waits until it stopped. The memtable flusher and the compactor are built on it.
 */
export class BackgroundTask {
  #running: Promise<void> | undefined;

  constructor(private readonly body: () => Promise<void>) {}

  kick(): void {
    this.#running ??= this.body().finally(() => {
      this.#running = undefined;
    });
  }

  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }
}
