import { visible } from '../escape.js';
import type { ProgressEvent } from '../engine/runner.js';
import type { OutputStream } from './io.js';

/**
 * A live line on stderr while the audit runs: which check, which table, elapsed time, checks done of
 * total. Only on a terminal; stdout carries the report alone, so `--format json | jq` always works.
 */
export class ProgressLine {
  private readonly started = Date.now();
  private running = new Map<string, string>();
  private done = 0;
  private total = 0;
  private lastDraw = 0;
  private drawn = false;

  private readonly timer: NodeJS.Timeout;

  constructor(private readonly stream: OutputStream) {
    // Redraw every second, so the elapsed time moves during a long query.
    this.timer = setInterval(() => this.draw(true), 1000);
    this.timer.unref();
  }

  readonly onEvent = (event: ProgressEvent): void => {
    if (event.kind === 'catalog') this.running.set('catalog', 'reading the catalog');
    if (event.kind === 'check-start') {
      this.running.delete('catalog');
      this.total = event.total;
      this.running.set(event.checkId, '');
    }
    if (event.kind === 'object') this.running.set(event.checkId, visible(event.object));
    if (event.kind === 'check-done') {
      this.running.delete(event.checkId);
      this.done = event.done;
      this.total = event.total;
    }
    this.draw(event.kind !== 'object');
  };

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const [first] = [...this.running.entries()];
    const what = first ? (first[0] === 'catalog' ? first[1] : `${first[0]}${first[1] ? ` · ${first[1]}` : ''}`) : 'finishing';
    const elapsed = ((now - this.started) / 1000).toFixed(1);
    const line = `integrity · ${what} · ${elapsed}s · ${this.done}/${this.total || '?'} checks`;
    const width = (this.stream.columns || 100) - 1;
    this.stream.write(`\r\u001b[2K${line.length > width ? `${line.slice(0, width - 1)}…` : line}`);
    this.drawn = true;
  }

  clear(): void {
    clearInterval(this.timer);
    if (this.drawn) this.stream.write('\r\u001b[2K');
  }
}
