// herald console: the only script. It asks before destructive actions and
// refreshes a campaign dashboard while it is live. Everything works
// without it; it never builds HTML from data (the server renders).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("submit", (e) => {
    const f = e.target;
    if (f instanceof HTMLFormElement && f.dataset.confirm && !window.confirm(f.dataset.confirm)) {
      e.preventDefault();
    }
  });

  // A dashboard marked data-refresh is fetched again every few seconds and
  // swapped in whole, until the campaign is finished or the tab hidden.
  let live = document.querySelector("[data-refresh]");
  if (!live) return;
  const every = 2000;
  const tick = async () => {
    if (!live || live.dataset.final === "true") return;
    if (!document.hidden) {
      try {
        const url = new URL(window.location.href);
        url.searchParams.delete("done");
        const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (res.ok) {
          const doc = new DOMParser().parseFromString(await res.text(), "text/html");
          const fresh = doc.querySelector("[data-refresh]");
          if (fresh) {
            live.replaceWith(fresh);
            live = fresh;
          }
        }
      } catch (err) {
        // offline for a moment: try again on the next tick
      }
    }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
});
