// openmic's status page, live: polls data/summary.json and, when anything published
// changes, brings the page's live parts up to date without a reload; shows times in
// the reader's zone beside UTC; arrow keys move through a history strip. Same origin,
// no framework; every page is complete without it.
(() => {
  const d = document, me = d.currentScript, root = new URL(".", me.src);
  const label = me.dataset.local, zone = new Intl.DateTimeFormat(d.documentElement.lang, { dateStyle: "medium", timeStyle: "short" });
  const live = () => [...d.querySelectorAll("[data-live][id]")];
  const served = new Map(live().map((e) => [e.id, e.innerHTML]));
  const local = (scope) => {
    for (const t of scope.querySelectorAll("time[datetime*='T']")) {
      const at = new Date(t.dateTime);
      if (isNaN(at) || !at.getTimezoneOffset() || t.nextElementSibling?.classList.contains("local")) continue;
      const s = d.createElement("span");
      s.className = "local";
      s.textContent = ` (${zone.format(at)}, ${label})`;
      t.after(s);
    }
  };
  const rove = (scope) => {
    for (const strip of scope.querySelectorAll(".days")) {
      const days = [...strip.querySelectorAll("[tabindex],a")];
      days.forEach((e, i) => (e.tabIndex = i === days.length - 1 ? 0 : -1));
      strip.onkeydown = (ev) => {
        const i = days.indexOf(d.activeElement);
        const j = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: days.length - 1 }[ev.key];
        if (i < 0 || j === undefined || !days[j]) return;
        ev.preventDefault();
        days[i].tabIndex = -1;
        days[j].tabIndex = 0;
        days[j].focus();
      };
    }
  };
  const refresh = async () => {
    const r = await fetch(location.href, { cache: "no-store" });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    for (const e of live()) {
      const next = doc.getElementById(e.id);
      if (!next || served.get(e.id) === next.innerHTML) continue;
      served.set(e.id, next.innerHTML);
      const focusable = () => [...e.querySelectorAll("a,[tabindex]")];
      const at = focusable().indexOf(d.activeElement);
      e.innerHTML = next.innerHTML;
      local(e);
      rove(e);
      if (at >= 0) focusable()[at]?.focus({ preventScroll: true });
    }
  };
  let seen;
  const poll = async () => {
    if (d.hidden || !served.size) return;
    try {
      const r = await fetch(new URL("data/summary.json", root), { cache: "no-store" });
      const s = await r.json();
      const now = `${s.updated_at} ${s.status}`;
      if (seen !== undefined && now !== seen) await refresh();
      seen = now;
    } catch {
      // Offline for a moment: the next poll tries again.
    }
  };
  local(d);
  rove(d);
  poll();
  setInterval(poll, 30000);
  d.addEventListener("visibilitychange", poll);
})();
