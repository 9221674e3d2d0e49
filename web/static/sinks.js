// sinks.js: where received bytes go. A Sink is {write(Uint8Array), close(), abort(reason)},
// each returning a Promise (web/API.md). Go calls write with chunks of up to 1 MiB and waits
// for each Promise; it may reuse the array afterwards, so every sink copies what it keeps.
//
// Tried in this order (?save=sw|fsa|opfs|memory in the page's URL forces one):
//  sw      a streaming download through the service worker (sw.js): chunks go to the worker
//          over a MessageChannel; the worker feeds a ReadableStream that answers a hidden
//          iframe's request for <scope>_ferry/download/<id>; the browser saves it as a normal
//          download. Skipped on Safari and iOS (WebKit), whose service-worker downloads are
//          unreliable.
//  fsa     File System Access: a save dialog, then a writable stream to a swap file that the
//          browser moves into place only on close().
//  opfs    the origin-private file system through a worker (opfs-worker.js) with a sync access
//          handle; when complete the file is offered as a download link. For iOS Safari.
//  memory  a Blob of the chunks, up to MEMORY_CAP.

import { formatBytes, randomId, safeFileName } from "./util.js";

export const MODES = ["sw", "fsa", "opfs", "memory"];
export const MEMORY_CAP = 256 * 1024 * 1024;

// At most this many bytes are posted to a worker (service worker or OPFS) and not yet taken
// by it: write() waits beyond that. This is what keeps the page's memory flat however large
// the file is.
const WINDOW = 4 * 1024 * 1024;
const ANSWER_TIMEOUT_MS = 5000; // the service worker or OPFS worker answers our first message
const START_TIMEOUT_MS = 15000; // the browser asks the service worker for the download
const KEEPALIVE_MS = 10000; // a message now and then keeps the service worker running

// SinkError is a failure to show as it is: the user cancelled the save dialog (retry: the offer
// stays up and Accept may be pressed again), or the file is too large for this browser.
export class SinkError extends Error {
  constructor(message, { retry = false } = {}) {
    super(message);
    this.name = "SinkError";
    this.retry = retry;
  }
}

// forcedMode is the sink ?save= names, or "" (try them in order).
export function forcedMode() {
  const m = new URLSearchParams(location.search).get("save") ?? "";
  return MODES.includes(m) ? m : "";
}

// Safari, and every browser on iOS (all are WebKit there).
function isAppleWebKit() {
  return navigator.vendor === "Apple Computer, Inc.";
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// deferred is a Promise with its resolve and reject.
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // rejections are reported where the promise is awaited
  return { promise, resolve, reject };
}

// PortWriter sends chunks to a worker as transferred ArrayBuffers and counts the bytes the
// worker has not acknowledged yet; write() resolves at once while that is within WINDOW and
// otherwise when acks bring it back. close() resolves when the worker says "closed".
class PortWriter {
  constructor(post) {
    this.post = post;
    this.inflight = 0;
    this.waiter = null;
    this.closing = null;
    this.error = null;
  }

  write(chunk) {
    if (this.error) return Promise.reject(this.error);
    if (chunk.byteLength === 0) return Promise.resolve();
    const copy = new Uint8Array(chunk); // a copy: Go reuses its array
    this.inflight += copy.byteLength;
    this.post({ type: "chunk", data: copy.buffer }, [copy.buffer]);
    if (this.inflight <= WINDOW) return Promise.resolve();
    this.waiter = deferred();
    return this.waiter.promise;
  }

  ack(n) {
    this.inflight -= Number(n) || 0;
    if (this.waiter && this.inflight <= WINDOW) {
      this.waiter.resolve();
      this.waiter = null;
    }
  }

  close() {
    if (this.error) return Promise.reject(this.error);
    this.closing = deferred();
    this.post({ type: "close" });
    return this.closing.promise;
  }

  closed() {
    this.closing?.resolve();
    this.closing = null;
  }

  fail(err) {
    if (this.error) return;
    this.error = err;
    this.waiter?.reject(err);
    this.closing?.reject(err);
    this.waiter = this.closing = null;
  }

  abort(reason) {
    const first = !this.error;
    this.fail(new Error(reason || "the transfer was aborted"));
    if (first) this.post({ type: "abort", reason: String(reason ?? "") });
  }
}

// registerServiceWorker registers sw.js for this page's folder ("/" when served at /) and
// waits until it is active and controls the page (clients.claim() on a first visit). It
// resolves to the registration, or null when there is none.
async function registerServiceWorker() {
  const sw = navigator.serviceWorker;
  if (!sw) return null;
  try {
    await sw.register("sw.js", { scope: "./" });
    const reg = await withTimeout(sw.ready, 10000, "the service worker did not start");
    if (!sw.controller) {
      const claimed = new Promise((resolve) => sw.addEventListener("controllerchange", resolve, { once: true }));
      await withTimeout(claimed, 3000, "no controller").catch(() => {});
    }
    return reg;
  } catch (err) {
    console.warn("ferry: no service worker:", err);
    return null;
  }
}

// swSink streams to a download through the service worker.
async function swSink(reg, name, size) {
  const worker = navigator.serviceWorker.controller ?? reg.active;
  if (!worker) throw new Error("the service worker is not active");
  const id = randomId();
  const { port1, port2 } = new MessageChannel();
  const writer = new PortWriter((m, transfer) => port1.postMessage(m, transfer));
  const registered = deferred();
  const started = deferred();
  port1.onmessage = (e) => {
    const m = e.data ?? {};
    if (m.type === "registered") registered.resolve();
    else if (m.type === "started") started.resolve();
    else if (m.type === "ack") writer.ack(m.n);
    else if (m.type === "closed") writer.closed();
    else if (m.type === "cancel") writer.fail(new Error("the download was cancelled in the browser"));
  };
  worker.postMessage({ type: "ferry-download", id, name, size }, [port2]);

  const frame = document.createElement("iframe");
  frame.hidden = true;
  frame.title = "download";
  let keepalive = 0;
  const leave = () => writer.abort("the page was closed");
  window.addEventListener("pagehide", leave);
  const stop = () => {
    clearInterval(keepalive);
    window.removeEventListener("pagehide", leave);
    port1.onmessage = null;
    // The download belongs to the browser now; the frame can go a little later.
    setTimeout(() => frame.remove(), 5000);
  };
  try {
    await withTimeout(registered.promise, ANSWER_TIMEOUT_MS, "the service worker did not answer");
    frame.src = new URL(`_ferry/download/${id}`, reg.scope).href;
    document.body.append(frame);
    await withTimeout(started.promise, START_TIMEOUT_MS, "the browser did not start the download");
  } catch (err) {
    writer.abort(err.message);
    stop();
    throw err;
  }
  // The ping to the worker keeps it running; the one on the port tells it the page is still
  // there (it fails the download when the pings stop, e.g. when the tab was closed).
  keepalive = setInterval(() => {
    worker.postMessage({ type: "ping" });
    port1.postMessage({ type: "ping" });
  }, KEEPALIVE_MS);
  return {
    write: (chunk) => writer.write(chunk),
    close: () => writer.close().finally(stop),
    abort: async (reason) => {
      writer.abort(reason); // the worker errors the stream: the browser marks the download failed
      stop();
    },
  };
}

// fsaSink writes through the File System Access API (Chromium on desktops).
async function fsaSink(name) {
  let handle;
  try {
    handle = await window.showSaveFilePicker({ suggestedName: name });
  } catch (err) {
    if (err.name === "AbortError") throw new SinkError("Choose where to save it, or Decline.", { retry: true });
    throw err;
  }
  const writable = await handle.createWritable();
  return {
    write: (chunk) => writable.write(new Uint8Array(chunk)),
    close: () => writable.close(),
    abort: () => writable.abort().catch(() => {}), // the swap file goes, the target stays untouched
  };
}

// opfsSink writes to the origin-private file system in a worker, then offers the file.
async function opfsSink(name, offerFile) {
  const worker = new Worker("opfs-worker.js");
  const file = `ferry-${randomId()}`;
  const writer = new PortWriter((m, transfer) => worker.postMessage(m, transfer));
  const opened = deferred();
  worker.onmessage = (e) => {
    const m = e.data ?? {};
    if (m.type === "opened") opened.resolve();
    else if (m.type === "ack") writer.ack(m.n);
    else if (m.type === "closed") writer.closed();
    else if (m.type === "aborted") worker.terminate();
    else if (m.type === "error") {
      const err = new Error(`cannot write the file in this browser's storage: ${m.message}`);
      opened.reject(err);
      writer.fail(err);
    }
  };
  worker.onerror = () => {
    const err = new Error("the worker that saves the file failed");
    opened.reject(err);
    writer.fail(err);
  };
  worker.postMessage({ type: "open", file });
  try {
    await withTimeout(opened.promise, ANSWER_TIMEOUT_MS, "the storage worker did not answer");
  } catch (err) {
    worker.terminate();
    throw err;
  }
  return {
    write: (chunk) => writer.write(chunk),
    close: async () => {
      await writer.close();
      worker.terminate();
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("ferry");
      offerFile(await (await dir.getFileHandle(file)).getFile(), name); // on disk, not in memory
    },
    abort: async (reason) => {
      writer.abort(reason); // the worker removes the file, then says "aborted"
      setTimeout(() => worker.terminate(), 5000);
    },
  };
}

function tooBig(n) {
  return (
    `This browser cannot save files larger than ${formatBytes(MEMORY_CAP)} from this page` +
    (n >= 0 ? ` (this one is ${formatBytes(n)})` : "") +
    ". A recent Chrome, Edge, Firefox or Safari can, outside a private window."
  );
}

// memorySink keeps the chunks in memory, up to MEMORY_CAP, and offers a Blob at the end.
function memorySink(name, size, offerFile) {
  if (size > MEMORY_CAP) throw new SinkError(tooBig(size));
  let chunks = [];
  let total = 0;
  return {
    write: async (chunk) => {
      total += chunk.byteLength;
      if (total > MEMORY_CAP) {
        chunks = [];
        throw new SinkError(tooBig(-1));
      }
      chunks.push(new Uint8Array(chunk));
    },
    close: async () => {
      const blob = new Blob(chunks, { type: "application/octet-stream" });
      chunks = [];
      offerFile(blob, name);
    },
    abort: async () => {
      chunks = [];
    },
  };
}

// Saver picks and makes sinks. Make one at page load: it registers the service worker then,
// so that it controls the page long before the first download.
export class Saver {
  constructor(mode = forcedMode()) {
    this.mode = mode;
    this.used = "";
    this.swReady = mode === "" || mode === "sw" ? registerServiceWorker() : Promise.resolve(null);
  }

  // create makes the sink for offer.save ({name, size, zip}). Call it in the Accept click
  // handler: the save dialog needs that user gesture. offerFile(file, name) is called when
  // an opfs or memory sink is complete, to show a download link. A SinkError is for the user;
  // other errors mean no sink could be made.
  async create(save, offerFile) {
    const name = safeFileName(save?.name);
    const size = save?.zip ? -1 : Number.isFinite(Number(save?.size)) ? Number(save.size) : -1;
    const order = this.mode ? [this.mode] : MODES;
    let last = null;
    for (const kind of order) {
      try {
        const sink = await this.make(kind, name, size, offerFile);
        if (sink) {
          this.used = kind;
          return sink;
        }
      } catch (err) {
        if (err instanceof SinkError) throw err;
        console.warn(`ferry: cannot save with ${kind}:`, err);
        last = err;
      }
    }
    throw new Error(`this browser cannot save the file${last ? `: ${last.message}` : ""}`);
  }

  async make(kind, name, size, offerFile) {
    const forced = this.mode === kind;
    const missing = (what) => {
      if (forced) throw new Error(`?save=${kind}: this browser has no ${what} here`);
      return null;
    };
    switch (kind) {
      case "sw": {
        if (!forced && isAppleWebKit()) return null;
        const reg = await this.swReady;
        return reg ? swSink(reg, name, size) : missing("service worker");
      }
      case "fsa":
        return "showSaveFilePicker" in window ? fsaSink(name) : missing("File System Access");
      case "opfs":
        return navigator.storage?.getDirectory && typeof Worker === "function"
          ? opfsSink(name, offerFile)
          : missing("origin-private file system");
      case "memory":
        return memorySink(name, size, offerFile);
    }
    return null;
  }
}
