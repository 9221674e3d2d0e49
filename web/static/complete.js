// complete.js: completion of a partly typed wormhole code in the code field (an ARIA
// combobox). ferry.complete(prefix) gives the completions; they are listed under the field.
// Tab takes the one highlighted, else the longest common prefix of all of them when that is
// longer than what is typed, else the first; ArrowUp / ArrowDown highlight; Enter takes the
// highlighted one; Escape closes the list; a tap or a click on a suggestion takes it.

const MAX_SHOWN = 8;

// normalizeCode is what the page does to a typed code before using it: spaces to hyphens,
// lower case, no spaces around ("7 Guitarist Revenge " → "7-guitarist-revenge").
export function normalizeCode(s) {
  return String(s ?? "").trim().toLowerCase().replace(/\s+/g, "-");
}

function commonPrefix(items) {
  let p = items[0] ?? "";
  for (const s of items) {
    while (!s.startsWith(p)) p = p.slice(0, -1);
  }
  return p;
}

// attachCompletion wires the combobox: input is the text field, list the <ul role=listbox>,
// complete(prefix) → string[] (ferry.complete).
export function attachCompletion(input, list, complete) {
  let items = [];
  let active = -1;

  function suggestions(value) {
    const prefix = normalizeCode(value);
    // Nothing to complete before the first hyphen (the nameplate number) or right after one
    // (every word would match).
    if (!prefix.includes("-") || prefix.endsWith("-")) return [];
    try {
      const got = complete(prefix);
      return Array.isArray(got) ? got.map(String).filter((s) => s !== prefix) : [];
    } catch {
      return [];
    }
  }

  function render() {
    list.replaceChildren();
    items.slice(0, MAX_SHOWN).forEach((s, i) => {
      const li = document.createElement("li");
      li.id = `code-suggestion-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === active));
      li.dataset.value = s;
      li.textContent = s;
      list.append(li);
    });
    const open = items.length > 0;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    if (active >= 0) input.setAttribute("aria-activedescendant", `code-suggestion-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  function refresh() {
    items = suggestions(input.value);
    active = -1;
    render();
  }

  function take(value) {
    input.value = value;
    refresh(); // the next word's completions, or none when the code is whole
    input.focus();
  }

  function close() {
    items = [];
    active = -1;
    render();
  }

  input.addEventListener("input", refresh);
  input.addEventListener("blur", () => setTimeout(close, 150));
  input.addEventListener("keydown", (e) => {
    const shown = Math.min(items.length, MAX_SHOWN);
    if (e.key === "Tab" && !e.shiftKey && items.length > 0) {
      const typed = normalizeCode(input.value);
      let pick = active >= 0 ? items[active] : commonPrefix(items);
      if (pick.length <= typed.length) pick = items[0];
      if (pick && pick.length > typed.length) {
        e.preventDefault();
        take(pick);
      }
    } else if (e.key === "ArrowDown" && shown > 0) {
      e.preventDefault();
      active = (active + 1) % shown;
      render();
    } else if (e.key === "ArrowUp" && shown > 0) {
      e.preventDefault();
      active = active <= 0 ? shown - 1 : active - 1;
      render();
    } else if (e.key === "Enter" && active >= 0) {
      e.preventDefault();
      take(items[active]);
    } else if (e.key === "Escape" && items.length > 0) {
      e.preventDefault();
      close();
    }
  });
  // pointerdown keeps the focus in the field (no blur before the click lands).
  list.addEventListener("pointerdown", (e) => e.preventDefault());
  list.addEventListener("click", (e) => {
    const li = e.target.closest("li[data-value]");
    if (li) take(li.dataset.value);
  });

  return { refresh, close };
}
