// app.js: ferry's page. It loads ferry.wasm (ferry's Go code, which sets globalThis.ferry and
// fires "ferry-ready"; web/API.md is the contract), then receives with a code from the URL
// fragment or the code field, or sends picked files, a folder or a typed message.
//
// Text from the peer (names, messages, errors) is only ever set with textContent.
//
// Stable element ids (Go tests drive them through Chromium; web/API.md lists them too):
//   body[data-state]  loading | ready | connecting | offer | transferring | done | error
//   body[data-view]   receive | send, while a transfer is shown
//   #loading          the loading panel (#loading-text, #loading-progress)
//   #start            the start panels: receive and send
//   #code-input       the code field; #code-suggestions its completions (li[data-value])
//   #code-error       why a typed code is not well formed
//   #receive-button   starts receiving the code typed
//   #send-files       <input type=file multiple>; #send-folder the same with webkitdirectory
//   #send-text        a message to send instead of files
//   #send-selection   what Send will send; #send-clear forgets the picked files
//   #send-button      starts sending
//   #transfer         the transfer panel; #transfer-heading says Receiving or Sending
//   #share            (send) shown when the code is known: #send-code (the code),
//                     #send-link (a, the link), #send-qr (img, QR of the link),
//                     #send-cli, #copy-code, #copy-link, #share-link
//   #app-line         (receive) #app-link: wormhole-transfer:CODE for a Magic Wormhole app
//   #status           what is happening, in words (aria-live)
//   #verifier-line    shown with #verifier: the verifier hex, exactly as given
//   #offer            (receive) the offer: #offer-summary, #offer-list (li per entry, class
//                     "dir" for folders; .name and .size inside), #offer-save, #accept, #decline
//   #progress-box     #progress (<progress>; no value while the total is unknown) and
//                     #progress-text (done of total · MB/s · time left)
//   #text-box         (receive) a text message: #received-text (pre), #copy-text
//   #save-line        #save-link: download link of a file kept in OPFS or memory
//   #summary          the final line (Result.summary)
//   #cancel           cancels the transfer; #again starts over
//   #error            the error in words (role=alert); data-name = the Error's name
//                     (WrongCode, Declined, Cancelled, NoPath, ConnectionLost, NoOffer, Error, SinkError, LoadError)

import { attachCompletion, normalizeCode } from "./complete.js";
import { Saver } from "./sinks.js";
import { escapeMessage, escapeText, formatBytes, formatDuration, formatRate, plural, RateMeter, ScreenAwake } from "./util.js";

const $ = (id) => document.getElementById(id);
const MAX_LISTED = 200; // offer entries shown; the rest are counted

const saver = new Saver(); // registers the service worker now, long before a download
const awake = new ScreenAwake();
let ferry = null; // globalThis.ferry, once ready
let current = null; // the transfer shown: {kind, controller, meter, sinkError, urls, ...}
let picked = []; // the File objects Send will send

function setState(state) {
  document.body.dataset.state = state;
}

function status(text) {
  $("status").textContent = text;
}

function show(id, on = true) {
  $(id).hidden = !on;
}

// ---- loading ---------------------------------------------------------------------------

class LoadError extends Error {
  constructor(message) {
    super(message);
    this.name = "LoadError";
  }
}

function showLoad(loaded, total) {
  const bar = $("loading-progress");
  if (total > 0) {
    bar.max = total;
    bar.value = Math.min(loaded, total);
    $("loading-text").textContent = `Loading ferry… ${Math.floor((100 * loaded) / total)} % of ${formatBytes(total)}`;
  } else {
    $("loading-text").textContent = `Loading ferry… ${formatBytes(loaded)}`;
  }
}

// counting passes the response through, reporting the bytes as they arrive. Content-Length
// counts compressed bytes when there is a Content-Encoding, so then only the bytes are shown.
function counting(response) {
  if (!response.body || typeof TransformStream !== "function") return response;
  const total = response.headers.get("Content-Encoding") ? 0 : Number(response.headers.get("Content-Length")) || 0;
  let loaded = 0;
  let shown = 0;
  const body = response.body.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        loaded += chunk.byteLength;
        if (performance.now() - shown > 100) {
          shown = performance.now();
          showLoad(loaded, total);
        }
        controller.enqueue(chunk);
      },
      flush() {
        $("loading-text").textContent = "Starting ferry…";
      },
    }),
  );
  return new Response(body, { status: response.status, headers: { "Content-Type": "application/wasm" } });
}

// load starts ferry.wasm and resolves with globalThis.ferry when the Go program is ready.
async function load() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiateStreaming !== "function") {
    throw new LoadError(
      "This browser cannot run WebAssembly, which this page needs. A recent Chrome, Edge, Firefox " +
        "or Safari can (unless WebAssembly is turned off, as in Lockdown Mode).",
    );
  }
  if (typeof globalThis.Go !== "function") {
    throw new LoadError("Part of the page (wasm_exec.js) did not load. Reload the page to try again.");
  }
  const go = new globalThis.Go();
  const ready = new Promise((resolve) => window.addEventListener("ferry-ready", resolve, { once: true }));
  // A server may pin ferry.wasm with <meta name="ferry-wasm-integrity" content="sha384-...">.
  const integrity = document.querySelector('meta[name="ferry-wasm-integrity"]')?.content;
  let response;
  try {
    response = await fetch("ferry.wasm", integrity ? { integrity } : {});
  } catch (err) {
    throw new LoadError(`The page could not load ferry.wasm (${err.message}). Reload to try again.`);
  }
  if (!response.ok) throw new LoadError(`The page could not load ferry.wasm (HTTP ${response.status}).`);
  const { instance } = await WebAssembly.instantiateStreaming(counting(response), go.importObject);
  const exited = go.run(instance).then(() => {
    throw new LoadError("ferry stopped unexpectedly. Reload the page to start again.");
  });
  await Promise.race([ready, exited]);
  exited.catch(fatal); // should it stop later
  if (!globalThis.ferry) throw new LoadError("ferry started but did not set up the page.");
  return globalThis.ferry;
}

function fatal(err) {
  ferry = null; // the Go program is gone: nothing can start any more
  current?.controller.abort();
  awake.off();
  show("loading", false);
  setState("error");
  $("error").dataset.name = err?.name ?? "Error";
  $("error").textContent = escapeText(err?.message ?? String(err));
}

// ---- transfers -------------------------------------------------------------------------

// begin shows the transfer panel for a new transfer of kind "receive" or "send".
function begin(kind) {
  current = { kind, controller: new AbortController(), meter: new RateMeter(), sinkError: null, urls: [] };
  document.body.dataset.view = kind;
  $("transfer-heading").textContent = kind === "receive" ? "Receiving" : "Sending";
  for (const id of ["share", "app-line", "verifier-line", "offer", "progress-box", "text-box", "save-line", "again"]) {
    show(id, false);
  }
  for (const id of ["status", "verifier", "summary", "error", "progress-text"]) $(id).textContent = "";
  delete $("error").dataset.name;
  show("cancel");
  $("cancel").disabled = false;
  show("start", false);
  show("transfer");
  setState("connecting");
  awake.on();
  $("transfer-heading").focus();
  return current;
}

function onVerifier(hex) {
  $("verifier").textContent = String(hex);
  show("verifier-line");
}

function onConnecting(paths) {
  const list = Array.isArray(paths) ? paths.map((p) => escapeText(p)).join(", ") : "";
  const peer = current?.kind === "send" ? "receiver" : "sender";
  status(`Still looking for a way to the ${peer}${list ? ` (trying ${list})` : ""}…`);
}

function onProgress(done, total) {
  const t = current;
  if (!t || t.over) return;
  if (document.body.dataset.state !== "transferring") {
    setState("transferring");
    show("app-line", false);
    show("progress-box");
    status(t.kind === "receive" ? "Receiving…" : "Sending…");
  }
  done = Number(done) || 0;
  total = Number(total);
  const bar = $("progress");
  if (total >= 0) {
    bar.max = Math.max(total, 1);
    bar.value = Math.min(done, bar.max);
  } else {
    bar.removeAttribute("value"); // indeterminate
  }
  const { rate, left } = t.meter.update(done, total);
  const parts = [total >= 0 ? `${formatBytes(done)} of ${formatBytes(total)}` : formatBytes(done)];
  if (rate > 0) parts.push(formatRate(rate));
  if (Number.isFinite(left) && done < total) parts.push(`${formatDuration(left)} left`);
  $("progress-text").textContent = parts.join(" · ");
}

function finish(t, result) {
  if (t !== current) return;
  t.over = true;
  awake.off();
  show("cancel", false);
  show("app-line", false);
  show("again");
  if (typeof result?.text === "string") {
    $("received-text").textContent = escapeMessage(result.text); // newlines kept, bidi controls shown
    show("text-box");
    status("The sender sent a message:");
  } else if (!$("save-line").hidden) {
    status("Received. Save it with the button below.");
  } else {
    status(t.kind === "receive" ? "Received." : "Sent.");
  }
  $("summary").textContent = escapeText(result?.summary ?? "");
  setState("done");
  ($("save-line").hidden ? $("again") : $("save-link")).focus();
}

function fail(t, err) {
  if (t !== current) return;
  t.over = true;
  awake.off();
  show("cancel", false);
  show("offer", false);
  show("app-line", false);
  show("again");
  if (t.handedOver) {
    status("");
    $("summary").textContent = "Handed over to your Magic Wormhole app.";
    setState("done");
    return;
  }
  status("");
  show("progress-box", false);
  $("error").dataset.name = t.sinkError ? "SinkError" : (err?.name ?? "Error");
  $("error").textContent = escapeText(t.sinkError ?? err?.message ?? String(err));
  setState("error");
  $("again").focus();
}

// again goes back to the start panels.
function again() {
  // After a failed receive the code stays in the field, to fix a typo.
  const code = current?.kind === "receive" && document.body.dataset.state === "error" ? current.code : "";
  for (const url of current?.urls ?? []) URL.revokeObjectURL(url);
  current = null;
  delete document.body.dataset.view;
  $("error").textContent = "";
  $("code-input").value = code ?? "";
  $("send-text").value = "";
  clearPicked();
  show("transfer", false);
  show("start");
  setState("ready");
  $("code-input").focus();
}

// ---- receive ---------------------------------------------------------------------------

async function receive(code) {
  const t = begin("receive");
  t.code = code;
  $("app-link").href = `wormhole-transfer:${encodeURIComponent(code)}`;
  show("app-line");
  status("Connecting to the sender…");
  try {
    const result = await ferry.receive({
      code,
      signal: t.controller.signal,
      onVerifier,
      onConnecting,
      onProgress,
      onOffer: (offer) => showOffer(t, offer),
    });
    finish(t, result);
  } catch (err) {
    fail(t, err);
  }
}

// showOffer lists the offer and resolves with a Sink on Accept, null on Decline.
function showOffer(t, offer) {
  setState("offer");
  const entries = Array.isArray(offer?.entries) ? offer.entries : [];
  const files = Number(offer?.files) || 0;
  const bytes = Number(offer?.bytes);
  $("offer-summary").textContent = `The sender offers ${plural(files, "file")}, ${formatBytes(bytes)}:`;
  const list = $("offer-list");
  list.replaceChildren();
  for (const e of entries.slice(0, MAX_LISTED)) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = typeof e?.display === "string" ? e.display : escapeText(e?.name);
    const size = document.createElement("span");
    size.className = "size";
    if (e?.dir) {
      li.classList.add("dir");
      size.textContent = Number(e.size) >= 0 ? `folder, ${formatBytes(e.size)}` : "folder";
    } else {
      size.textContent = formatBytes(e?.size);
    }
    li.append(name, size);
    list.append(li);
  }
  if (entries.length > MAX_LISTED) {
    const li = document.createElement("li");
    li.className = "more";
    li.textContent = `and ${entries.length - MAX_LISTED} more`;
    list.append(li);
  }
  const save = offer?.save ?? {};
  $("offer-save").textContent = save.zip
    ? `Saved as one zip archive: ${escapeText(save.name)}`
    : `Saved as ${escapeText(save.name)} (${formatBytes(save.size)})`;
  status("Accept to save it, or Decline.");
  $("accept").disabled = $("decline").disabled = false;
  show("offer");
  $("accept").focus();

  return new Promise((resolve) => {
    const listeners = new AbortController();
    const settle = (sink) => {
      listeners.abort();
      show("offer", false);
      if (sink) {
        setState("transferring");
        show("app-line", false);
        show("progress-box");
        onProgress(0, save.zip ? -1 : Number(save.size));
        status(saver.used === "sw" ? "Receiving into your downloads…" : "Receiving…");
      }
      resolve(sink);
    };
    const accept = async () => {
      $("accept").disabled = $("decline").disabled = true;
      status("Getting ready to save…");
      try {
        const sink = await saver.create(save, (file, name) => offerFile(t, file, name));
        settle(watch(t, sink));
      } catch (err) {
        if (err.retry && !t.controller.signal.aborted) {
          status(err.message);
          $("accept").disabled = $("decline").disabled = false;
          $("accept").focus();
          return;
        }
        t.sinkError = err.message;
        settle(null);
      }
    };
    $("accept").addEventListener("click", accept, { signal: listeners.signal });
    $("decline").addEventListener("click", () => settle(null), { signal: listeners.signal });
    t.controller.signal.addEventListener("abort", () => settle(null), { signal: listeners.signal });
  });
}

// watch passes a sink through and keeps the first failure of a write in the transfer's words
// (the root cause, e.g. "the download was cancelled in the browser"), unless Go aborted the
// sink first (then Go's error says why).
function watch(t, sink) {
  let aborted = false;
  return {
    write: (chunk) =>
      sink.write(chunk).catch((err) => {
        if (!aborted) t.sinkError ??= err.message;
        throw err;
      }),
    close: () => sink.close(),
    abort: (reason) => {
      aborted = true;
      return sink.abort(reason);
    },
  };
}

// offerFile shows the download link of a file kept in OPFS or memory.
function offerFile(t, file, name) {
  const url = URL.createObjectURL(file);
  t.urls.push(url);
  const link = $("save-link");
  link.href = url;
  link.download = name;
  link.textContent = `Save ${name} (${formatBytes(file.size)})`;
  show("save-line");
}

// receiveFragment starts receiving the code in the URL fragment (/#7-guitarist-revenge), and
// removes it from the address bar.
function receiveFragment() {
  const raw = location.hash.slice(1);
  if (!raw) return;
  history.replaceState(null, "", location.pathname + location.search);
  let code;
  try {
    code = normalizeCode(decodeURIComponent(raw));
  } catch {
    code = "";
  }
  $("code-input").value = code;
  const reason = code ? ferry.checkCode(code) : "the link holds no code";
  if (reason) {
    showCodeError(reason);
    return;
  }
  receive(code);
}

function showCodeError(reason) {
  $("code-error").textContent = escapeText(reason);
  $("code-input").setAttribute("aria-invalid", String(Boolean(reason)));
  if (reason) $("code-input").focus();
}

function submitCode(e) {
  e.preventDefault();
  const code = normalizeCode($("code-input").value);
  const reason = code ? ferry.checkCode(code) : "type the code the sender has";
  showCodeError(reason);
  if (!reason) receive(code);
}

// ---- send ------------------------------------------------------------------------------

function updateSendButton() {
  $("send-button").disabled = picked.length === 0 && $("send-text").value.trim() === "";
}

function pick(input, folder) {
  picked = Array.from(input.files ?? []);
  // The other picker forgets its choice: Send sends one selection.
  (folder ? $("send-files") : $("send-folder")).value = "";
  const total = picked.reduce((n, f) => n + f.size, 0);
  let text = "";
  if (folder) {
    const top = picked[0]?.webkitRelativePath?.split("/")[0] || "";
    text = picked.length
      ? `Folder ${top}: ${plural(picked.length, "file")}, ${formatBytes(total)}.`
      : "That folder has no files.";
  } else if (picked.length === 1) {
    text = `${picked[0].name}, ${formatBytes(total)}.`;
  } else if (picked.length) {
    text = `${plural(picked.length, "file")}, ${formatBytes(total)}.`;
  }
  if (picked.length && $("send-text").value.trim()) text += " The files are sent, not the message.";
  $("send-selection").textContent = escapeText(text);
  show("send-clear", picked.length > 0);
  updateSendButton();
}

function clearPicked() {
  picked = [];
  $("send-files").value = "";
  $("send-folder").value = "";
  $("send-selection").textContent = "";
  show("send-clear", false);
  updateSendButton();
}

async function send() {
  const files = picked;
  const text = $("send-text").value;
  if (files.length === 0 && text.trim() === "") return;
  const t = begin("send");
  status("Getting a code…");
  const opts = { signal: t.controller.signal, onVerifier, onConnecting, onProgress, onCode: (c, l) => showCode(t, c, l) };
  if (files.length) opts.files = files;
  else opts.text = text;
  try {
    finish(t, await ferry.send(opts));
  } catch (err) {
    fail(t, err);
  }
}

function showCode(t, code, link) {
  if (t !== current) return;
  code = String(code);
  link = String(link);
  t.code = code;
  t.link = link;
  $("send-code").textContent = code;
  const a = $("send-link");
  a.textContent = link;
  if (/^https?:\/\//.test(link)) a.href = link;
  $("send-cli").textContent = `ferry receive ${code}`;
  const qr = $("send-qr");
  try {
    const src = ferry.qr(link);
    if (String(src).startsWith("data:image/")) qr.src = src;
    qr.hidden = !qr.src;
  } catch {
    qr.hidden = true;
  }
  show("share-link", typeof navigator.share === "function");
  show("share");
  status("Waiting for the receiver…");
}

// copyButton copies what get() returns when button is pressed, and says so for a moment.
function copyButton(button, get) {
  if (!navigator.clipboard) {
    button.hidden = true;
    return;
  }
  const label = button.textContent;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(get());
      button.textContent = "Copied";
    } catch {
      button.textContent = "Could not copy";
    }
    setTimeout(() => (button.textContent = label), 2000);
  });
}

// ---- start -----------------------------------------------------------------------------

function wire() {
  attachCompletion($("code-input"), $("code-suggestions"), (prefix) => ferry.complete(prefix));
  $("code-input").addEventListener("input", () => showCodeError(""));
  $("receive-form").addEventListener("submit", submitCode);
  $("send-files").addEventListener("change", (e) => pick(e.target, false));
  $("send-folder").addEventListener("change", (e) => pick(e.target, true));
  $("send-text").addEventListener("input", updateSendButton);
  $("send-clear").addEventListener("click", clearPicked);
  $("send-button").addEventListener("click", send);
  $("cancel").addEventListener("click", () => {
    $("cancel").disabled = true;
    status("Cancelling…");
    current?.controller.abort();
  });
  $("again").addEventListener("click", again);
  $("app-link").addEventListener("click", () => {
    // The app takes over the code: the page lets go of the mailbox first.
    if (current) current.handedOver = true;
    current?.controller.abort();
  });
  $("share-link").addEventListener("click", () =>
    navigator.share({ title: "ferry", text: "Open this link to receive what I send:", url: current?.link }).catch(() => {}),
  );
  copyButton($("copy-code"), () => current?.code ?? "");
  copyButton($("copy-link"), () => current?.link ?? "");
  copyButton($("copy-text"), () => $("received-text").textContent);
  if (!("webkitdirectory" in HTMLInputElement.prototype)) {
    show("send-folder-label", false); // no folder picking here (iOS)
  }
  // A link opened in this tab again (/#CODE) starts a new receive unless one is running.
  window.addEventListener("hashchange", () => {
    const state = document.body.dataset.state;
    if (!ferry || (state !== "ready" && state !== "done" && state !== "error")) return;
    if (current) again();
    receiveFragment();
  });
}

async function main() {
  try {
    ferry = await load();
  } catch (err) {
    fatal(err instanceof LoadError ? err : new LoadError(`ferry could not start: ${err?.message ?? err}`));
    return;
  }
  $("version").textContent = escapeText(ferry.version ?? "");
  wire();
  show("loading", false);
  show("start");
  setState("ready");
  if (location.hash.length > 1) receiveFragment();
  else if (matchMedia("(pointer: fine)").matches) $("code-input").focus({ preventScroll: true }); // no keyboard popping up on phones
}

main();
