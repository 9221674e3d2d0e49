// opfs-worker.js: writes one received file into the origin-private file system (OPFS) with a
// synchronous access handle, which only a dedicated worker may open. This is how iOS Safari
// can take files larger than its memory: the bytes go to disk as they arrive, and the page
// offers the finished file (a disk-backed File) as a download link.
//
// Messages, page → worker: {type: "open", file} (a fresh name in the "ferry" folder),
// {type: "chunk", data: ArrayBuffer}, {type: "close"}, {type: "abort"}. Worker → page:
// "opened", {type: "ack", n}, "closed", "aborted", {type: "error", message}.

let dir = null; // the "ferry" folder of the OPFS
let name = "";
let handle = null; // FileSystemSyncAccessHandle
let at = 0; // bytes written
let work = Promise.resolve(); // messages are handled one after the other

self.onmessage = (e) => {
  work = work.then(() => handle_(e.data ?? {})).catch((err) => {
    self.postMessage({ type: "error", message: String(err?.message ?? err) });
  });
};

async function handle_(m) {
  switch (m.type) {
    case "open": {
      dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("ferry", { create: true });
      await removeOld();
      name = String(m.file);
      const fh = await dir.getFileHandle(name, { create: true });
      handle = await fh.createSyncAccessHandle();
      handle.truncate(0);
      at = 0;
      self.postMessage({ type: "opened" });
      return;
    }
    case "chunk": {
      if (!handle) return; // aborted
      const data = new Uint8Array(m.data);
      const n = handle.write(data, { at });
      if (n !== data.byteLength) throw new Error(`wrote ${n} of ${data.byteLength} bytes (is the disk full?)`);
      at += n;
      self.postMessage({ type: "ack", n });
      return;
    }
    case "close":
      handle.flush();
      handle.close();
      handle = null;
      self.postMessage({ type: "closed" });
      return;
    case "abort":
      if (handle) handle.close();
      handle = null;
      if (dir && name) await dir.removeEntry(name).catch(() => {});
      self.postMessage({ type: "aborted" });
      return;
  }
}

// removeOld deletes files of earlier visits (their download links die with their pages) that
// were last written more than an hour ago, so that the storage does not fill up. A file
// another tab is still writing is locked, and stays.
async function removeOld() {
  const before = Date.now() - 3600 * 1000;
  for await (const [key, h] of dir.entries()) {
    try {
      if (h.kind !== "file" || (await h.getFile()).lastModified < before) await dir.removeEntry(key);
    } catch {
      // in use
    }
  }
}
