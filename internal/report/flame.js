(() => {
  "use strict";
  const fig = document.querySelector("figure.flame");
  const svg = fig && fig.querySelector("svg");
  if (!svg) return;
  const NS = "http://www.w3.org/2000/svg";
  const search = document.getElementById("fg-search");
  const reset = document.getElementById("fg-reset");
  const match = document.getElementById("fg-match");
  const info = document.getElementById("fg-info");
  const frames = [];
  const byG = new Map();
  for (const g of svg.querySelectorAll("g.frame")) {
    const rect = g.querySelector("rect");
    const title = g.querySelector("title");
    if (!rect || !title) continue;
    const tip = title.textContent;
    const cut = tip.lastIndexOf(" \u2014 ");
    let text = g.querySelector("text");
    if (!text) {
      text = document.createElementNS(NS, "text");
      text.setAttribute("y", String(Number(rect.getAttribute("y")) + Number(rect.getAttribute("height")) - 3));
      g.appendChild(text);
    }
    const f = {
      g, rect, text, tip,
      name: cut >= 0 ? tip.slice(0, cut) : tip,
      x: Number(rect.getAttribute("x")),
      w: Number(rect.getAttribute("width")),
      y: Number(rect.getAttribute("y")),
      fill: rect.getAttribute("fill"),
    };
    frames.push(f);
    byG.set(g, f);
  }
  if (!frames.length) return;
  // The root is the widest frame on the bottom row.
  let root = frames[0];
  for (const f of frames) if (f.y > root.y || (f.y === root.y && f.w > root.w)) root = f;
  const left = root.x, span = root.w;
  // A monospace font: measure one character once.
  const probe = document.createElementNS(NS, "text");
  probe.textContent = "MMMMMMMMMM";
  svg.appendChild(probe);
  const charW = probe.getComputedTextLength() / 10 || 7.2;
  svg.removeChild(probe);

  const label = (f, x, w) => {
    const chars = Math.floor((w - 6) / charW);
    let s = "";
    if (chars >= 3) s = f.name.length <= chars ? f.name : f.name.slice(0, chars - 2) + "..";
    f.text.textContent = s;
    f.text.setAttribute("x", (x + 3).toFixed(2));
  };
  let zoomed = root;
  const layout = (z) => {
    zoomed = z;
    const scale = span / z.w;
    for (const f of frames) {
      let x, w, dim = false;
      if (f.y <= z.y && f.x >= z.x - 0.01 && f.x + f.w <= z.x + z.w + 0.01) {
        x = left + (f.x - z.x) * scale;
        w = f.w * scale;
      } else if (f.y > z.y && f.x <= z.x + 0.01 && f.x + f.w >= z.x + z.w - 0.01) {
        x = left; w = span; dim = true; // an ancestor of the zoomed frame
      } else {
        f.g.style.display = "none";
        continue;
      }
      f.g.style.display = "";
      f.g.style.opacity = dim ? "0.55" : "";
      f.rect.setAttribute("x", x.toFixed(2));
      f.rect.setAttribute("width", w.toFixed(2));
      label(f, x, w);
    }
    reset.disabled = z === root;
  };
  const highlight = () => {
    const q = search.value.trim().toLowerCase();
    let hits = [];
    for (const f of frames) {
      const hit = q !== "" && f.name.toLowerCase().includes(q);
      f.rect.setAttribute("fill", hit ? "#c026d3" : f.fill);
      f.g.classList.toggle("match", hit);
      if (hit) hits.push(f);
    }
    if (!q) { match.textContent = ""; return; }
    // Nested matches count once: merge their spans on the x axis.
    hits.sort((a, b) => a.x - b.x);
    let sum = 0, end = -Infinity;
    for (const f of hits) {
      const a = Math.max(f.x, end), b = f.x + f.w;
      if (b > a) sum += b - a;
      end = Math.max(end, b);
    }
    const share = Math.round(100 * sum / span);
    const n = hits.length === 1 ? "1 frame matches, " : hits.length + " frames match, ";
    match.textContent = hits.length ? n + (share < 1 && sum > 0 ? "<1" : share) + " % of the CPU time" : "no frame matches";
  };
  svg.addEventListener("click", (e) => {
    const g = e.target.closest && e.target.closest("g.frame");
    const f = g && byG.get(g);
    if (f) layout(f === zoomed ? root : f);
  });
  svg.addEventListener("mouseover", (e) => {
    const g = e.target.closest && e.target.closest("g.frame");
    const f = g && byG.get(g);
    if (f) info.textContent = f.tip;
  });
  search.addEventListener("input", highlight);
  reset.addEventListener("click", () => { search.value = ""; highlight(); layout(root); });
  fig.classList.add("interactive");
  document.getElementById("fg-controls").hidden = false;
  info.hidden = false;
  layout(root);
})();
