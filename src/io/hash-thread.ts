/**
 * sha256 on a second core: one worker thread per process hashes for every stream, so the
 * main thread (parsing, writing) and hashing overlap. Bytes travel through a small ring of
 * shared memory: the main thread copies a stream's bytes into the slot being filled (pieces
 * of several streams share a slot), posts the slot when it is full or a digest is asked
 * for, and reuses it once the worker says it is hashed. Messages are handled in order, so a
 * digest covers every byte given before it. The worker does not keep the process alive
 * unless an answer is awaited; every wait is bounded.
 */
import { Worker } from 'node:worker_threads';
import { InfraError } from '../errors.js';

const SLOT_BYTES = 1024 * 1024;
/** Slots in the ring: bytes in flight to the worker are at most SLOTS × SLOT_BYTES. */
const SLOTS = 4;
/** Longest wait for the worker's answer: it hashes a slot in milliseconds even on a loaded machine. */
const ANSWER_TIMEOUT_MS = 120_000;

/**
 * The worker, as source (a file would need resolving beside both the compiled and the
 * TypeScript module). Messages: `{ slot, pieces: [stream, offset, length][] }` hashes the
 * pieces (offset -1: `length` zero bytes) and answers `{ slot }`; `{ digest: stream }`
 * answers `{ stream, value }` and forgets the stream; `{ drop: stream }` forgets it.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const ring = Buffer.from(workerData.ring);
const zeros = Buffer.alloc(1024 * 1024);
const hashes = new Map();
const hashOf = (id) => { let h = hashes.get(id); if (!h) hashes.set(id, (h = createHash('sha256'))); return h; };
parentPort.on('message', (m) => {
  if (m.pieces) {
    for (const [id, offset, length] of m.pieces) {
      const h = hashOf(id);
      if (offset >= 0) h.update(ring.subarray(offset, offset + length));
      else for (let left = length; left > 0; left -= zeros.length) h.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    }
    parentPort.postMessage({ slot: m.slot });
  } else if (m.digest !== undefined) {
    const value = hashOf(m.digest).digest();
    hashes.delete(m.digest);
    parentPort.postMessage({ stream: m.digest, value }, [value.buffer]);
  } else if (m.drop !== undefined) hashes.delete(m.drop);
});
`;

type Piece = [stream: number, offset: number, length: number];

interface Waiter {
  resolve: (value: Buffer | undefined) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

class HashThread {
  private readonly worker: Worker;
  private readonly ring: Buffer;
  private readonly free: number[] = [];
  /** The slot being filled, its bytes so far and what they belong to. */
  private slot = -1;
  private used = 0;
  private pieces: Piece[] = [];
  private readonly slotWaiters: Waiter[] = [];
  private readonly digestWaiters = new Map<number, Waiter>();
  private nextStream = 0;
  private failure: InfraError | undefined;

  constructor() {
    const memory = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    this.ring = Buffer.from(memory);
    for (let i = 0; i < SLOTS; i++) this.free.push(i);
    // No inherited flags: the source is a CommonJS script whatever the process was started with.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { ring: memory } });
    this.worker.on('message', (m: { slot?: number; stream?: number; value?: Uint8Array }) => this.answer(m));
    this.worker.on('error', (err) => this.fail(new InfraError('INTERNAL', `The hashing thread failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => this.fail(new InfraError('INTERNAL', `The hashing thread ended (exit code ${code}).`)));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.worker.unref();
  }

  newStream(): number {
    return this.nextStream++;
  }

  /** Queues `data` for `stream`, waiting for a free slot when the ring is full. */
  async update(stream: number, data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; ) {
      if (this.used === SLOT_BYTES) this.post();
      if (this.slot < 0) {
        await this.takeSlot();
        continue;
      }
      const n = Math.min(data.length - offset, SLOT_BYTES - this.used);
      const at = this.slot * SLOT_BYTES + this.used;
      data.copy(this.ring, at, offset, offset + n);
      this.pieces.push([stream, at, n]);
      this.used += n;
      offset += n;
    }
  }

  /** Queues `count` zero bytes for `stream` (no bytes travel). */
  updateZeros(stream: number, count: number): void {
    if (count > 0) this.pieces.push([stream, -1, count]);
  }

  /** The sha256 of everything queued for `stream`; the stream ends. */
  async digest(stream: number): Promise<Buffer> {
    this.post();
    const answer = this.wait((waiter) => this.digestWaiters.set(stream, waiter));
    this.worker.postMessage({ digest: stream });
    return (await answer)!;
  }

  /** Forgets `stream` (its hash is not wanted). */
  drop(stream: number): void {
    if (!this.failure) this.worker.postMessage({ drop: stream });
  }

  /** Takes a free slot, or waits until the worker frees one (another caller may take it first). */
  private async takeSlot(): Promise<void> {
    const slot = this.free.shift();
    if (slot === undefined) {
      await this.wait((waiter) => this.slotWaiters.push(waiter));
      return;
    }
    this.slot = slot;
    this.used = 0;
  }

  /** Sends the pieces queued so far (and the slot they fill, if any). */
  private post(): void {
    if (this.failure) throw this.failure;
    if (this.pieces.length === 0 && this.slot < 0) return;
    this.worker.postMessage({ slot: this.slot, pieces: this.pieces });
    this.slot = -1;
    this.used = 0;
    this.pieces = [];
  }

  /** Waits for an answer; the worker keeps the process alive meanwhile. */
  private wait(register: (waiter: Waiter) => void): Promise<Buffer | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    this.worker.ref();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new InfraError('INTERNAL', `The hashing thread did not answer within ${ANSWER_TIMEOUT_MS / 1000} s.`)), ANSWER_TIMEOUT_MS);
      register({ resolve, reject, timer });
    });
  }

  private answer(m: { slot?: number; stream?: number; value?: Uint8Array }): void {
    if (m.slot !== undefined) {
      if (m.slot < 0) return;
      this.free.push(m.slot);
      this.settle(this.slotWaiters.shift(), undefined);
    } else if (m.stream !== undefined) {
      const waiter = this.digestWaiters.get(m.stream);
      this.digestWaiters.delete(m.stream);
      this.settle(waiter, Buffer.from(m.value!));
    }
  }

  private settle(waiter: Waiter | undefined, value: Buffer | undefined): void {
    if (!waiter) return;
    clearTimeout(waiter.timer);
    waiter.resolve(value);
    if (this.slotWaiters.length === 0 && this.digestWaiters.size === 0) this.worker.unref();
  }

  private fail(err: InfraError): void {
    if (this.failure) return;
    this.failure = err;
    // Later hashes start a new thread.
    if (shared === this) shared = undefined;
    const waiters = [...this.slotWaiters.splice(0), ...this.digestWaiters.values()];
    this.digestWaiters.clear();
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
    void this.worker.terminate();
  }
}

let shared: HashThread | undefined;

/** A sha256 computed on the hashing thread (started on first use). */
export class ThreadSha256 {
  private readonly thread = (shared ??= new HashThread());
  private readonly stream = this.thread.newStream();

  update(data: Buffer): Promise<void> {
    return this.thread.update(this.stream, data);
  }

  updateZeros(count: number): void {
    this.thread.updateZeros(this.stream, count);
  }

  /** The binary digest; ends the hash (call once). */
  digest(): Promise<Buffer> {
    return this.thread.digest(this.stream);
  }

  /** Ends the hash without a digest. */
  drop(): void {
    this.thread.drop(this.stream);
  }
}
