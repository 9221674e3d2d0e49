// sw.js: ferry's service worker. Its only job is streaming downloads: the page posts
// {type: "ferry-download", id, name, size} with a MessagePort, then loads
// <scope>_ferry/download/<id> in a hidden iframe; this worker answers that request with a
// ReadableStream fed from the port, so the browser saves the bytes as a normal download while
// they arrive, without the page holding the file. Every other request goes to the network
// untouched (no caching here).
//
// Port messages, page → worker: {type: "chunk", data: ArrayBuffer}, {type: "close"},
// {type: "abort", reason}, "ping" (every 10 s: the page is still there). Worker → page:
// "registered" (the download is known), "started" (the browser asked for it), {type: "ack", n}
// (n bytes were handed to the browser: the page's back-pressure), "closed" (all bytes handed
// on, the stream is closed), "cancel" (the browser stopped the download, e.g. the user
// cancelled it).

const PREFIX = new URL("_ferry/download/", self.registration.scope).pathname;
const UNCLAIMED_MS = 60000; // a download nobody asks for is dropped after this
const SILENT_MS = 60000; // the page pings every 10 s: this long without a message, it is gone

// id → {name, size, stream}; each is answered once.
const downloads = new Map();

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));

self.addEventListener("message", (e) => {
  const m = e.data ?? {};
  // "ping" needs no answer: receiving it keeps this worker alive during a long download.
  if (m.type !== "ferry-download" || !e.ports[0]) return;
  const id = String(m.id ?? "");
  if (!/^[0-9a-f]{32}$/.test(id)) return;
  const port = e.ports[0];
  downloads.set(id, { name: String(m.name ?? "download"), size: Number(m.size), stream: portStream(port) });
  setTimeout(() => downloads.delete(id), UNCLAIMED_MS);
  port.postMessage({ type: "registered" });
});

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(PREFIX)) return;
  const id = url.pathname.slice(PREFIX.length);
  const d = downloads.get(id);
  if (!d) {
    e.respondWith(new Response("This download is over or was never started.", { status: 404 }));
    return;
  }
  downloads.delete(id);
  d.stream.started();
  const headers = new Headers({
    "Content-Type": "application/octet-stream",
    "Content-Disposition": contentDisposition(d.name),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
  });
  if (Number.isSafeInteger(d.size) && d.size >= 0) headers.set("Content-Length", String(d.size));
  e.respondWith(new Response(d.stream.readable, { headers }));
});

// portStream makes the ReadableStream of one download, fed by chunks from port. Chunks wait in
// a queue until the browser pulls; each is acknowledged when it is handed to the browser.
function portStream(port) {
  const queue = [];
  let closing = false;
  let done = false; // closed or errored
  let wake = null; // resolves a pull waiting for the next message
  let controller;

  let heard = Date.now(); // the page's last message
  const watchdog = setInterval(() => {
    if (Date.now() - heard < SILENT_MS) return;
    controller.error(new Error("the page stopped sending (was it closed?)"));
    finish();
    poke();
  }, SILENT_MS / 4);

  const finish = () => {
    clearInterval(watchdog);
    done = true;
    queue.length = 0;
    port.onmessage = null;
    setTimeout(() => port.close(), 1000); // let the last message go out
  };

  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };

  port.onmessage = (e) => {
    const m = e.data ?? {};
    if (done) return;
    heard = Date.now();
    if (m.type === "chunk" && m.data instanceof ArrayBuffer) {
      queue.push(new Uint8Array(m.data));
    } else if (m.type === "close") {
      closing = true;
    } else if (m.type === "abort") {
      // Erroring the stream makes the browser mark the download failed (never complete).
      controller.error(new Error(String(m.reason || "the transfer failed")));
      finish();
    }
    poke();
  };

  // deliver hands on one chunk, or closes the stream after the last one; false: nothing yet.
  const deliver = (c) => {
    if (done) return true;
    if (queue.length > 0) {
      const chunk = queue.shift();
      c.enqueue(chunk);
      port.postMessage({ type: "ack", n: chunk.byteLength });
      return true;
    }
    if (closing) {
      c.close();
      port.postMessage({ type: "closed" });
      finish();
      return true;
    }
    return false;
  };

  // later waits for the next port message and delivers then (the stream calls pull again
  // only after this settles).
  const later = (c) =>
    new Promise((resolve) => {
      wake = resolve;
    }).then(() => (deliver(c) ? undefined : later(c)));

  const readable = new ReadableStream(
    {
      start(c) {
        controller = c;
      },
      pull(c) {
        return deliver(c) ? undefined : later(c);
      },
      cancel(reason) {
        if (done) return;
        port.postMessage({ type: "cancel", reason: String(reason ?? "") });
        finish();
        poke();
      },
    },
    { highWaterMark: 1 }, // one chunk queued in the stream; the rest waits in `queue`
  );

  return { readable, started: () => port.postMessage({ type: "started" }) };
}

// contentDisposition makes an attachment header with the name in RFC 5987 form
// (filename*=UTF-8''...) and an ASCII fallback for old clients.
function contentDisposition(name) {
  const ascii = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\%]/g, "_") || "download";
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
