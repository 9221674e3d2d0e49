// util.js: small helpers for ferry's page: sizes, rates and durations in words, escaping of
// text from the peer, safe file names, a rate meter for the progress bar, and the screen
// wake lock. No DOM writes here except through the callers.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

// formatBytes writes a size like the CLI does: 512 B, 3.1 MiB, 200 MiB. −1 (or anything that
// is not a finite number ≥ 0) is "unknown size".
export function formatBytes(n) {
  n = Number(n);
  if (!Number.isFinite(n) || n < 0) return "unknown size";
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  if (u === 0) return `${n} B`;
  return `${n < 10 ? n.toFixed(1) : Math.round(n)} ${UNITS[u]}`;
}

// formatRate writes bytes per second in MB/s (decimal megabytes, as the CLI's summary).
export function formatRate(bytesPerSecond) {
  const mb = bytesPerSecond / 1e6;
  return `${mb < 10 ? mb.toFixed(1) : Math.round(mb)} MB/s`;
}

// formatDuration writes seconds as "45 s", "3 min 20 s", "2 h 5 min".
export function formatDuration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// plural: "1 file", "3 files".
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

// Control, format (bidi overrides, zero-width characters), private-use and line/paragraph
// separator characters: what ferry's Go side (internal/escape) escapes as \u{NNNN} too.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}]/gu;

// escapeText shows hidden characters of peer text as \xNN (ASCII controls) or \u{NNNN}, as
// Go's escape.Terminal does. Go already sends `display` names escaped; this is the page's own
// guard for everything else it shows (the save name, messages, errors), and for a `display`
// that is missing. Like escape.Terminal it leaves backslashes alone, so that text Go already
// escaped passes through unchanged.
export function escapeText(s) {
  return String(s ?? "").replace(HIDDEN, (c) => {
    const n = c.codePointAt(0);
    return n < 0x80 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u{${n.toString(16).padStart(4, "0")}}`;
  });
}

// escapeMessage is escapeText for a text message: it keeps newlines and tabs.
export function escapeMessage(s) {
  return String(s ?? "")
    .split(/(\r?\n|\t)/)
    .map((part, i) => (i % 2 ? part : escapeText(part)))
    .join("");
}

// safeFileName makes a name the browser may save under: no hidden characters, no path
// separators or characters Windows refuses, no leading dots, at most 200 characters.
export function safeFileName(name) {
  let s = String(name ?? "")
    .replace(HIDDEN, "")
    .replace(/[/\\:*?"<>|]/g, "_")
    .replace(/^[.\s]+/, "")
    .trim();
  if (s.length > 200) s = s.slice(0, 200);
  return s || "download";
}

// randomId returns 32 hex digits from the browser's CSPRNG.
export function randomId() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// RateMeter turns (done, total) progress reports into a rate over the last few seconds and
// the time left at that rate.
export class RateMeter {
  constructor(windowMs = 4000) {
    this.windowMs = windowMs;
    this.samples = []; // [time ms, bytes done]
  }

  // update records a report; it returns {rate (bytes/s, 0 until known), left (s, or NaN)}.
  update(done, total) {
    const now = performance.now();
    this.samples.push([now, done]);
    while (this.samples.length > 2 && now - this.samples[0][0] > this.windowMs) this.samples.shift();
    const [t0, d0] = this.samples[0];
    const dt = (now - t0) / 1000;
    const rate = dt > 0.2 ? (done - d0) / dt : 0;
    const left = rate > 0 && total >= 0 ? (total - done) / rate : NaN;
    return { rate, left };
  }
}

// ScreenAwake holds a screen wake lock while work runs (a phone that sleeps suspends the
// tab). The browser drops the lock when the page is hidden; it is taken again when the page
// is visible. Without the Wake Lock API this does nothing.
export class ScreenAwake {
  constructor() {
    this.lock = null;
    this.wanted = false;
    document.addEventListener("visibilitychange", () => {
      if (this.wanted && document.visibilityState === "visible") this.request();
    });
  }

  on() {
    this.wanted = true;
    return this.request();
  }

  async off() {
    this.wanted = false;
    const lock = this.lock;
    this.lock = null;
    try {
      await lock?.release();
    } catch {
      // already released
    }
  }

  async request() {
    if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
    if (this.lock && !this.lock.released) return;
    try {
      this.lock = await navigator.wakeLock.request("screen");
      if (!this.wanted) this.off(); // the work ended while we waited
    } catch {
      // refused (battery saver, policy): the transfer goes on anyway
    }
  }
}
