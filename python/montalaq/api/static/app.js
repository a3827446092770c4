/*
 * montalaq dashboard (docs/semantics.md, HTTP API GET /): per-symbol tiles, a candlestick chart with a
 * feature panel, the pairs table (freshness, escalation, breakers), latest analyses,
 * findings and agents, refreshed every few seconds. Plain browser JavaScript, no build
 * step, no external host.
 *
 * Decisions:
 * - Every URL is relative ("api/ingestion/status", never "/api/..."): the router may be
 *   mounted under a prefix such as /montalaq/ in a host application.
 * - Nothing from the API is ever parsed as HTML: the DOM is built with createElement and
 *   textContent, so a label such as "<img onerror=...>" shows as text. No inline script or
 *   style, so a strict Content-Security-Policy (script-src 'self') works.
 * - Token: read once from the URL fragment "#token=..." (what `montalaq serve` prints),
 *   kept in sessionStorage (this tab only), and removed from the visible URL with
 *   history.replaceState. It is sent as "Authorization: Bearer ..." on every request. A
 *   missing token or a 401/403 answer is shown as a message, never swallowed.
 * - Refresh: every 5 s by default; "?refresh=S" sets S seconds, clamped to 1..10 (the
 *   operator range is 5..10; values under 5 are for tests and demos). The next refresh
 *   is scheduled when the previous one finished, so slow answers never pile up.
 * - The chart draws the closed bars (oldest first) and the open bar (faded). After each
 *   draw the canvas carries data-bars (closed bars drawn) and data-last-start (ISO start
 *   of the newest closed bar, "" when none) so tests and tools can see what is shown.
 * - "Run agents now" marks the findings it returned (class "just-run") until the next run.
 * - A process without market data of its own (health.scheduler.market_data false: it runs
 *   no scheduler) shows health.scheduler.reason in a grey note (#no-scheduler) and its
 *   pairs as UNKNOWN (grey), never RED: nobody evaluated them here.
 * - Latest analysis of a pair: GET api/analysis/history?limit=1 (same record as
 *   api/analysis/latest, cached the same way) because it answers 200 [] while a pair has no
 *   analysis yet, where latest answers 404 -- and a browser logs every 404 as a console
 *   error, which for a daily timeframe would mean a red line every refresh all day. A 404
 *   or null is still read as "no analysis yet".
 */
"use strict";

(function () {
  const TOKEN_KEY = "montalaq.token";
  const DASH = "—";
  const DEFAULT_REFRESH_S = 5;
  const MIN_REFRESH_S = 1;
  const MAX_REFRESH_S = 10;
  const BAR_LIMIT = 120;
  const FINDINGS_LIMIT = 20;
  const UNIT_S = { s: 1, m: 60, h: 3600, d: 86400 };

  const state = {
    refreshS: DEFAULT_REFRESH_S,
    symbols: [],
    timeframes: [],
    pairs: [],
    chartSymbol: "",
    chartTf: "",
    chartPayload: null,
    chartDebug: null,
    justRun: new Set(),
    inflight: null,
    timer: null,
    memoryToken: "",
  };

  // ------------------------------------------------------------------ small helpers
  function $(id) {
    return document.getElementById(id);
  }

  /** Element with a class and text (text via textContent: never parsed as HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function isNum(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  function fmt(v, digits) {
    return isNum(v) ? v.toFixed(digits) : DASH;
  }

  function fmtPrice(v) {
    if (!isNum(v)) return DASH;
    const a = Math.abs(v);
    return v.toFixed(a >= 100 ? 2 : a >= 1 ? 4 : 6);
  }

  function fmtInt(v) {
    return isNum(v) ? Math.round(v).toLocaleString("en-US") : DASH;
  }

  /** Four significant digits (ATR of a cheap or a dear instrument alike). */
  function fmtSig(v) {
    return isNum(v) ? String(Number(v.toPrecision(4))) : DASH;
  }

  /** 927391 -> "927k", 1.2e6 -> "1.2M" (axis labels have little room). */
  function fmtCompact(v) {
    if (!isNum(v)) return DASH;
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e3) return (v / 1e3).toFixed(0) + "k";
    return String(Math.round(v));
  }

  function plural(n, noun) {
    return fmtValue(n) + " " + noun + (n === 1 ? "" : "s");
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return DASH;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) return DASH;
      return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
    }
    if (typeof v === "string") return v;
    if (typeof v === "boolean") return v ? "yes" : "no";
    try {
      return JSON.stringify(v);
    } catch (_e) {
      return String(v);
    }
  }

  /** "2024-01-02T13:45:06.123Z" -> "13:45:06" today (UTC) or "2024-01-02 13:45:06". */
  function fmtTime(iso) {
    if (typeof iso !== "string" || iso.length < 19) return iso ? String(iso) : DASH;
    const today = new Date().toISOString().slice(0, 10);
    const time = iso.slice(11, 19);
    return iso.slice(0, 10) === today ? time : iso.slice(0, 10) + " " + time;
  }

  function tfSeconds(tf) {
    const m = /^(\d+)([smhd])$/.exec(String(tf));
    return m ? Number(m[1]) * UNIT_S[m[2]] : Number.MAX_SAFE_INTEGER;
  }

  function setText(node, text) {
    const s = text === undefined || text === null ? DASH : String(text);
    if (node.textContent !== s) node.textContent = s;
  }

  function badge(text, kind) {
    const b = el("span", "badge " + kind, text === null || text === undefined ? DASH : text);
    return b;
  }

  function cell(text, className) {
    const td = el("td", className || "", text === undefined || text === null ? DASH : text);
    return td;
  }

  function timeCell(iso) {
    const td = cell(fmtTime(iso));
    if (typeof iso === "string") td.title = iso;
    return td;
  }

  // ------------------------------------------------------------------ token
  function storage() {
    try {
      return window.sessionStorage;
    } catch (_e) {
      return null; // storage disabled: keep the token in memory for this page only
    }
  }

  function getToken() {
    const s = storage();
    if (s) {
      try {
        return s.getItem(TOKEN_KEY) || "";
      } catch (_e) {
        /* fall through to memory */
      }
    }
    return state.memoryToken;
  }

  function setToken(token) {
    state.memoryToken = token;
    const s = storage();
    if (s) {
      try {
        if (token) s.setItem(TOKEN_KEY, token);
        else s.removeItem(TOKEN_KEY);
      } catch (_e) {
        /* memory copy is enough */
      }
    }
    showTokenState();
  }

  /** Take "#token=..." out of the URL (kept in sessionStorage, not in history). */
  function adoptFragmentToken() {
    const raw = window.location.hash.replace(/^#/, "");
    if (!raw) return;
    const params = new URLSearchParams(raw);
    if (!params.has("token")) return;
    const token = (params.get("token") || "").trim();
    if (token) setToken(token);
    params.delete("token");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? "#" + rest : "");
    window.history.replaceState(window.history.state, "", url);
  }

  function showTokenState() {
    const node = $("token-state");
    const has = Boolean(getToken());
    node.dataset.state = has ? "set" : "missing";
    setText(node, has ? "token set" : "no token: actions need one");
  }

  // ------------------------------------------------------------------ messages
  function showMessage(text, kind) {
    const node = $("message");
    node.dataset.kind = kind || "info";
    node.className = "message message-" + (kind || "info");
    setText(node, text);
    node.hidden = false;
  }

  function showBanner(text) {
    const node = $("banner");
    setText(node, text);
    node.hidden = false;
  }

  function hideBanner() {
    const node = $("banner");
    node.hidden = true;
    node.textContent = "";
  }

  // ------------------------------------------------------------------ HTTP
  class ApiError extends Error {
    constructor(status, message, path) {
      super(message);
      this.name = "ApiError";
      this.status = status; // 0: the request never got an HTTP answer
      this.path = path;
    }
  }

  function detailOf(body) {
    if (body && typeof body === "object") {
      if (typeof body.detail === "string") return body.detail;
      if (Array.isArray(body.detail)) {
        return body.detail
          .map((d) => (d && typeof d.msg === "string" ? d.msg : fmtValue(d)))
          .join("; ");
      }
      if (typeof body.error === "string") return body.error;
    }
    if (typeof body === "string") return body.slice(0, 200);
    return "";
  }

  /** JSON of a relative URL; ApiError(status 0) when unreachable, (status) on HTTP errors. */
  async function api(path, method, acceptStatus) {
    const headers = { Accept: "application/json" };
    const token = getToken();
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    let text;
    try {
      resp = await fetch(path, { method: method || "GET", headers, cache: "no-store" });
      text = await resp.text();
    } catch (e) {
      throw new ApiError(0, "no answer: " + (e && e.message ? e.message : String(e)), path);
    }
    let body = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch (_e) {
        body = text;
      }
    }
    if (!resp.ok && !(acceptStatus && acceptStatus.includes(resp.status))) {
      const detail = detailOf(body);
      throw new ApiError(resp.status, "HTTP " + resp.status + (detail ? ": " + detail : ""), path);
    }
    return body;
  }

  function authHint(err) {
    if (err.status === 401 || err.status === 403) {
      return (
        "Not authorised (HTTP " + err.status + "): the API refused the token. " +
        "Paste the token printed by `montalaq serve` into the API token field."
      );
    }
    return null;
  }

  /** A token-protected POST; shows why it failed and returns null then. */
  async function post(path, what) {
    if (!getToken()) {
      showMessage(
        what + ": no API token. Paste the token printed by `montalaq serve` into the API token field.",
        "error",
      );
      $("token-input").focus();
      return null;
    }
    try {
      return { body: await api(path, "POST") };
    } catch (err) {
      showMessage(what + " failed: " + (authHint(err) || err.message), "error");
      return null;
    }
  }

  // ------------------------------------------------------------------ tiles
  const TILE_FIELDS = [
    ["last_price", "last", fmtPrice],
    ["best_bid", "bid", fmtPrice],
    ["best_ask", "ask", fmtPrice],
    ["mom1_bps", "mom 1m bps", (v) => fmt(v, 1)],
    ["mom5_bps", "mom 5m bps", (v) => fmt(v, 1)],
    ["rvol_vs_recent", "rvol 1m", (v) => fmt(v, 2)],
    ["px_vs_vwap_bps", "vs vwap bps", (v) => fmt(v, 1)],
    ["trades_cached", "trades cached", fmtInt],
  ];

  function tileFor(symbol) {
    const container = $("tiles");
    for (const t of container.children) {
      if (t.dataset && t.dataset.symbol === symbol) return t;
    }
    const tile = el("article", "tile");
    tile.dataset.symbol = symbol;
    tile.dataset.loaded = "false";
    tile.appendChild(el("h3", "tile-symbol", symbol));
    const dl = el("dl", "kv");
    for (const [key, label] of TILE_FIELDS) {
      dl.appendChild(el("dt", "", label));
      const dd = el("dd", "num", DASH);
      dd.dataset.field = key;
      dl.appendChild(dd);
    }
    tile.appendChild(dl);
    tile.appendChild(el("p", "tile-error"));
    return tile;
  }

  function renderTiles(symbols, signals, health) {
    const container = $("tiles");
    const tiles = symbols.map(tileFor);
    container.replaceChildren(...tiles);
    if (!symbols.length) container.appendChild(el("p", "empty", "no symbols configured"));
    symbols.forEach((symbol, i) => {
      const tile = tiles[i];
      const sig = signals[i];
      const err = tile.querySelector(".tile-error");
      if (sig instanceof ApiError) {
        setText(err, "signals: " + sig.message);
        return;
      }
      err.textContent = "";
      const values = Object.assign({}, sig || {});
      if (!isNum(values.trades_cached) && health && health.trades_cached) {
        values.trades_cached = health.trades_cached[symbol];
      }
      for (const [key, , format] of TILE_FIELDS) {
        setText(tile.querySelector('dd[data-field="' + key + '"]'), format(values[key]));
      }
      tile.dataset.loaded = "true";
    });
  }

  // ------------------------------------------------------------------ selectors
  function fillSelect(select, values, labels, keepFirst) {
    const current = select.value;
    const fixed = keepFirst ? [select.options[0]] : [];
    const wanted = values.join("\n");
    const have = Array.from(select.options)
      .slice(fixed.length)
      .map((o) => o.value)
      .join("\n");
    if (wanted !== have) {
      const opts = values.map((v, i) => {
        const o = el("option", "", labels ? labels[i] : v);
        o.value = v;
        return o;
      });
      select.replaceChildren(...fixed, ...opts);
      if (values.includes(current) || (keepFirst && current === "")) select.value = current;
    }
    return select.value;
  }

  function syncSelectors() {
    state.chartSymbol = fillSelect($("chart-symbol"), state.symbols) || "";
    state.chartTf = fillSelect($("chart-tf"), state.timeframes) || "";
    fillSelect($("run-symbol"), state.symbols, null, true);
  }

  // ------------------------------------------------------------------ chart
  function validBar(b) {
    return (
      b && typeof b.start === "string" && isNum(b.open) && isNum(b.high) && isNum(b.low) && isNum(b.close)
    );
  }

  function niceStep(range, count) {
    const raw = range / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) {
      if (raw <= m * mag) return m * mag;
    }
    return 10 * mag;
  }

  function drawChart() {
    const canvas = $("chart");
    const payload = state.chartPayload;
    const cssW = Math.max(200, canvas.clientWidth || 600);
    const cssH = Math.max(160, canvas.clientHeight || 320);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    const closed = payload && Array.isArray(payload.bars) ? payload.bars.filter(validBar) : [];
    const open = payload && validBar(payload.open_bar) ? payload.open_bar : null;
    const all = open ? closed.concat([open]) : closed;
    canvas.dataset.bars = String(closed.length);
    canvas.dataset.lastStart = closed.length ? closed[closed.length - 1].start : "";
    canvas.setAttribute(
      "aria-label",
      payload
        ? "candlestick chart, " + payload.symbol + " " + payload.timeframe + ", " + closed.length + " bars"
        : "candlestick chart",
    );

    const styles = getComputedStyle(canvas);
    const ink = styles.getPropertyValue("--chart-ink").trim() || "#222";
    const grid = styles.getPropertyValue("--chart-grid").trim() || "#e5e5e5";
    const up = styles.getPropertyValue("--chart-up").trim() || "#1a7f37";
    const down = styles.getPropertyValue("--chart-down").trim() || "#c62828";

    if (!all.length) {
      ctx.fillStyle = ink;
      ctx.textAlign = "center";
      ctx.fillText(payload ? "no bars yet" : "waiting for bars…", cssW / 2, cssH / 2);
      return;
    }

    const padL = 8;
    const padR = 62;
    const padT = 20;
    const padB = 22;
    const gap = 8;
    const plotW = cssW - padL - padR;
    const plotH = cssH - padT - padB;
    const volH = Math.round(plotH * 0.22);
    const priceH = plotH - volH - gap;
    const volTop = padT + priceH + gap;

    let lo = Infinity;
    let hi = -Infinity;
    let vmax = 0;
    for (const b of all) {
      lo = Math.min(lo, b.low);
      hi = Math.max(hi, b.high);
      if (isNum(b.volume)) vmax = Math.max(vmax, b.volume);
    }
    if (hi - lo < 1e-12) {
      const pad = Math.abs(hi) * 0.001 || 1;
      lo -= pad;
      hi += pad;
    }
    const margin = (hi - lo) * 0.05;
    lo -= margin;
    hi += margin;
    const y = (p) => padT + ((hi - p) / (hi - lo)) * priceH;
    const slot = plotW / Math.max(all.length, 30);
    const x = (i) => padL + plotW - slot * (all.length - i - 0.5); // newest bar at the right
    const body = Math.max(1, Math.min(slot * 0.7, 14));

    // Price grid and labels.
    const step = niceStep(hi - lo, 5);
    const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step)) + 1));
    ctx.textAlign = "left";
    ctx.lineWidth = 1;
    for (let p = Math.ceil(lo / step) * step; p <= hi; p += step) {
      const yy = Math.round(y(p)) + 0.5;
      ctx.strokeStyle = grid;
      ctx.beginPath();
      ctx.moveTo(padL, yy);
      ctx.lineTo(padL + plotW, yy);
      ctx.stroke();
      ctx.fillStyle = ink;
      ctx.fillText(p.toFixed(decimals), padL + plotW + 6, yy);
    }

    // Time labels, about one per 80 px.
    const every = Math.max(1, Math.ceil(80 / slot));
    const daily = tfSeconds(payload.timeframe) >= 86400;
    ctx.textAlign = "center";
    for (let i = all.length - 1; i >= 0; i -= every) {
      const s = all[i].start;
      ctx.fillStyle = ink;
      ctx.fillText(daily ? s.slice(0, 10) : s.slice(11, 16), x(i), cssH - padB / 2);
      ctx.strokeStyle = grid;
      ctx.beginPath();
      ctx.moveTo(Math.round(x(i)) + 0.5, padT);
      ctx.lineTo(Math.round(x(i)) + 0.5, volTop + volH);
      ctx.stroke();
    }

    // Feed gaps: a dashed line between two bars more than one timeframe apart (bars are
    // placed by index, so a hole in the data would otherwise be invisible).
    const tfMs = tfSeconds(payload.timeframe) * 1000;
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = down;
    for (let i = 1; i < all.length; i++) {
      const dt = Date.parse(all[i].start) - Date.parse(all[i - 1].start);
      if (Number.isFinite(dt) && dt > tfMs) {
        const gx = Math.round((x(i) + x(i - 1)) / 2) + 0.5;
        ctx.beginPath();
        ctx.moveTo(gx, padT);
        ctx.lineTo(gx, volTop + volH);
        ctx.stroke();
      }
    }
    ctx.setLineDash([]);

    // Volume strip.
    ctx.strokeStyle = grid;
    ctx.strokeRect(padL + 0.5, volTop + 0.5, plotW - 1, volH - 1);
    all.forEach((b, i) => {
      if (!isNum(b.volume) || vmax <= 0) return;
      const h = (b.volume / vmax) * (volH - 2);
      ctx.globalAlpha = b === open ? 0.25 : 0.55;
      ctx.fillStyle = b.close >= b.open ? up : down;
      ctx.fillRect(x(i) - body / 2, volTop + volH - 1 - h, body, h);
    });
    ctx.globalAlpha = 1;
    ctx.fillStyle = ink;
    ctx.textAlign = "left";
    ctx.fillText("vol " + fmtCompact(vmax), padL + plotW + 6, volTop + 6);

    // Candles.
    all.forEach((b, i) => {
      const colour = b.close >= b.open ? up : down;
      ctx.globalAlpha = b === open ? 0.4 : 1;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      const cx = Math.round(x(i)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(cx, y(b.high));
      ctx.lineTo(cx, y(b.low));
      ctx.stroke();
      const top = y(Math.max(b.open, b.close));
      const h = Math.max(1, y(Math.min(b.open, b.close)) - top);
      ctx.fillRect(cx - body / 2, top, body, h);
    });
    ctx.globalAlpha = 1;

    // Title: symbol, timeframe, last close.
    const last = all[all.length - 1];
    ctx.fillStyle = ink;
    ctx.textAlign = "left";
    ctx.font = "bold 12px system-ui, sans-serif";
    ctx.fillText(
      payload.symbol + " " + payload.timeframe + "  close " + fmtPrice(last.close) + (open ? " (open bar)" : ""),
      padL,
      padT / 2,
    );
  }

  function kvList(dl, pairs) {
    const nodes = [];
    for (const [label, value] of pairs) {
      nodes.push(el("dt", "", label));
      nodes.push(el("dd", "num", value));
    }
    dl.replaceChildren(...nodes);
  }

  function renderFeatures(barsPayload, debug) {
    const bars = barsPayload && Array.isArray(barsPayload.bars) ? barsPayload.bars : [];
    const last = bars.length ? bars[bars.length - 1] : null;
    kvList(
      $("bar-features"),
      last
        ? [
            ["start", fmtTime(last.start)],
            ["close", fmtPrice(last.close)],
            ["volume", fmtInt(last.volume)],
            ["trades", fmtInt(last.trades)],
            ["atr", fmtSig(last.atr)],
            ["mom bps", fmt(last.mom_bps, 1)],
            ["vs vwap bps", fmt(last.px_vs_vwap_bps, 1)],
            ["rvol", fmt(last.rvol, 2)],
          ]
        : [["bars", "none closed yet"]],
    );
    const trend = debug && debug.trend ? debug.trend : null;
    const trendRows = [
      ["p_up", trend ? fmt(trend.p_up, 3) : DASH],
      ["posture", trend && trend.posture ? trend.posture : DASH],
    ];
    if (trend && trend.features && typeof trend.features === "object") {
      for (const [k, v] of Object.entries(trend.features)) trendRows.push([k, fmt(v, 2)]);
    } else {
      trendRows.push(["features", "warming up"]);
    }
    kvList($("trend"), trendRows);
    $("trend").dataset.pUp = trend && isNum(trend.p_up) ? String(trend.p_up) : "";

    const frames = debug && debug.timeframes && typeof debug.timeframes === "object" ? debug.timeframes : {};
    const rows = Object.keys(frames)
      .sort((a, b) => tfSeconds(a) - tfSeconds(b))
      .map((tf) => {
        const f = frames[tf];
        const tr = el("tr");
        tr.appendChild(cell(tf));
        if (!f) {
          const td = cell("no bar yet");
          td.colSpan = 6;
          tr.appendChild(td);
          return tr;
        }
        tr.appendChild(timeCell(f.bar_start));
        tr.appendChild(cell(fmtPrice(f.close), "num"));
        tr.appendChild(cell(fmtSig(f.atr), "num"));
        tr.appendChild(cell(fmt(f.mom_bps, 1), "num"));
        tr.appendChild(cell(fmt(f.px_vs_vwap_bps, 1), "num"));
        tr.appendChild(cell(fmt(f.rvol, 2), "num"));
        return tr;
      });
    $("tf-features").tBodies[0].replaceChildren(...rows);
  }

  /** Bars and features of the selected symbol/timeframe; false when the API failed. */
  async function loadChart(failures) {
    const symbol = state.chartSymbol;
    const tf = state.chartTf;
    const note = $("chart-note");
    if (!symbol || !tf) {
      setText(note, "waiting for symbols and timeframes");
      drawChart();
      return;
    }
    const q = "symbol=" + encodeURIComponent(symbol);
    const [bars, debug] = await Promise.all([
      api("api/bars?" + q + "&tf=" + encodeURIComponent(tf) + "&limit=" + BAR_LIMIT).catch((e) => e),
      api("debug/features?" + q).catch((e) => e),
    ]);
    if (symbol !== state.chartSymbol || tf !== state.chartTf) return; // selection changed meanwhile
    if (bars instanceof ApiError) {
      failures.push(bars);
      setText(note, "bars: " + bars.message);
    } else {
      note.textContent = "";
      state.chartPayload = bars;
      drawChart();
    }
    if (debug instanceof ApiError) failures.push(debug);
    else state.chartDebug = debug;
    // On a failed request the panel keeps what it showed (like the chart), not "warming up".
    renderFeatures(state.chartPayload, state.chartDebug);
  }

  // ------------------------------------------------------------------ pairs
  function pairKey(p) {
    return p.symbol + "/" + p.timeframe;
  }

  function pairRow(key) {
    const tbody = $("pairs").tBodies[0];
    for (const tr of tbody.rows) if (tr.dataset.pair === key) return tr;
    const tr = el("tr");
    tr.dataset.pair = key;
    for (let i = 0; i < 12; i++) tr.appendChild(el("td"));
    const breaker = tr.cells[5];
    breaker.appendChild(el("span", "badge"));
    const button = el("button", "close-breaker", "Close breaker");
    button.type = "button";
    button.dataset.action = "close-breaker";
    button.hidden = true;
    breaker.appendChild(button);
    return tr;
  }

  function setBadge(td, text, kind) {
    let b = td.querySelector(".badge");
    if (!b) {
      b = el("span");
      td.replaceChildren(b);
    }
    b.className = "badge " + kind;
    setText(b, text);
  }

  function renderPairs(status) {
    const pairs = Array.isArray(status.pairs) ? status.pairs : [];
    const tbody = $("pairs").tBodies[0];
    const rows = pairs.map((p) => {
      const tr = pairRow(pairKey(p));
      const c = tr.cells;
      setText(c[0], p.symbol);
      setText(c[1], p.timeframe);
      setText(c[2], p.provider || DASH);
      setBadge(c[3], p.freshness, "fresh-" + String(p.freshness).toLowerCase());
      setBadge(c[4], p.escalation_level, "level-" + String(p.escalation_level).toLowerCase());
      const isOpen = p.breaker_open === true;
      tr.dataset.breaker = isOpen ? "open" : "closed";
      setBadge(c[5], isOpen ? "OPEN" : "closed", isOpen ? "breaker-open" : "breaker-closed");
      const button = c[5].querySelector("button");
      button.hidden = !isOpen;
      button.dataset.symbol = p.symbol;
      button.dataset.timeframe = p.timeframe;
      c[5].title = p.breaker_reason ? String(p.breaker_reason) : "";
      setText(c[6], fmtTime(p.last_tick));
      c[6].title = p.last_tick || "";
      setText(c[7], fmtTime(p.last_eval));
      c[7].title = p.last_eval || "";
      setText(c[8], p.last_error_code || DASH);
      setText(c[9], [p.amber_streak, p.red_streak, p.error_streak].map(fmtValue).join(" / "));
      setText(c[10], fmtValue(p.fails_5m));
      setText(c[11], fmtTime(p.breaker_changed_at));
      c[11].title = p.breaker_changed_at || "";
      return tr;
    });
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.appendChild(emptyRow("no pairs yet", 12));

    const summary = status.providers_summary && typeof status.providers_summary === "object"
      ? status.providers_summary
      : {};
    const parts = Object.keys(summary)
      .sort()
      .map((name) => {
        const s = summary[name] || {};
        const span = el("span", "provider");
        span.dataset.provider = name;
        span.appendChild(el("strong", "", name));
        span.appendChild(
          document.createTextNode(
            ": " + plural(s.pairs, "pair") + ", " + fmtValue(s.green) + " green, " + fmtValue(s.amber) +
              " amber, " + fmtValue(s.red) + " red" + (s.closed ? ", " + fmtValue(s.closed) + " closed" : "") +
              (s.unknown ? ", " + fmtValue(s.unknown) + " unknown" : "") +
              ", " + plural(s.breakers_open, "breaker") + " open",
          ),
        );
        return span;
      });
    const line = $("providers");
    line.replaceChildren(el("span", "label", "Providers "));
    parts.forEach((p, i) => {
      if (i) line.appendChild(document.createTextNode(" · "));
      line.appendChild(p);
    });
    if (!parts.length) line.appendChild(document.createTextNode(DASH));
  }

  async function closeBreaker(button) {
    const symbol = button.dataset.symbol;
    const tf = button.dataset.timeframe;
    button.disabled = true;
    try {
      const path = "api/breakers/" + encodeURIComponent(symbol) + "/" + encodeURIComponent(tf) + "/close";
      const res = await post(path, "Close breaker " + symbol + " " + tf);
      if (res) {
        const b = res.body || {};
        showMessage(
          b.closed === false
            ? "Breaker " + symbol + " " + tf + " was not open."
            : "Breaker " + symbol + " " + tf + " closed.",
          "ok",
        );
      }
    } finally {
      button.disabled = false;
    }
    await refresh(true);
  }

  // ------------------------------------------------------------------ analyses
  async function loadAnalyses(failures) {
    const pairs = state.pairs.slice();
    const results = await Promise.all(
      pairs.map((p) =>
        api(
          "api/analysis/history?limit=1&pair=" + encodeURIComponent(p.symbol) + "&tf=" +
            encodeURIComponent(p.timeframe),
        )
          .then((list) => (Array.isArray(list) ? list[0] || null : list))
          .catch((e) => e),
      ),
    );
    const rows = pairs.map((p, i) => {
      const a = results[i];
      const tr = el("tr");
      tr.dataset.pair = pairKey(p);
      tr.appendChild(cell(p.symbol));
      tr.appendChild(cell(p.timeframe));
      if (a instanceof ApiError && a.status !== 404) {
        failures.push(a);
        const td = cell(a.message, "error-text");
        td.colSpan = 9;
        tr.appendChild(td);
        return tr;
      }
      if (!a || a instanceof ApiError || typeof a !== "object") {
        const td = cell("no analysis yet", "empty");
        td.colSpan = 9;
        tr.appendChild(td);
        return tr;
      }
      tr.appendChild(timeCell(a.bar_ts));
      tr.appendChild(el("td")).appendChild(badge(a.status, "status-" + String(a.status).toLowerCase()));
      tr.appendChild(el("td")).appendChild(
        badge(a.final_decision || DASH, "decision-" + String(a.final_decision || "none").toLowerCase()),
      );
      tr.appendChild(cell(fmt(a.rule_confidence_score, 1), "num"));
      tr.appendChild(cell(fmt(a.ml_confidence, 1), "num"));
      tr.appendChild(cell(fmt(a.composite_score, 1), "num"));
      tr.appendChild(cell(fmtPrice(a.stop_loss), "num"));
      tr.appendChild(cell(fmtPrice(a.take_profit), "num"));
      const err = a.error_code ? a.error_code + (a.error_message ? ": " + a.error_message : "") : DASH;
      tr.appendChild(cell(err, a.error_code ? "error-text" : ""));
      return tr;
    });
    $("analyses").tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ findings
  function findingKey(f) {
    return f.id !== null && f.id !== undefined
      ? "id:" + f.id
      : [f.ts_utc, f.agent, f.symbol, f.score].map(String).join("|");
  }

  function findingsOf(body) {
    if (Array.isArray(body)) return body;
    if (body && Array.isArray(body.findings)) return body.findings;
    return [];
  }

  function renderFindings(body) {
    const list = findingsOf(body);
    const rows = list.map((f) => {
      const tr = el("tr");
      const key = findingKey(f);
      tr.dataset.key = key;
      if (state.justRun.has(key)) tr.classList.add("just-run");
      tr.appendChild(timeCell(f.ts_utc));
      tr.appendChild(cell(f.agent));
      tr.appendChild(cell(f.symbol));
      tr.appendChild(cell(fmt(f.score, 3), "num"));
      tr.appendChild(cell(f.label === "" ? DASH : f.label, "label"));
      const details = f.details && typeof f.details === "object" ? f.details : {};
      const text = Object.entries(details)
        .map(([k, v]) => k + "=" + fmtValue(v))
        .join(", ");
      const td = cell(text || DASH, "details");
      td.title = fmtValue(details);
      tr.appendChild(td);
      return tr;
    });
    const tbody = $("findings").tBodies[0];
    tbody.replaceChildren(...rows);
    $("findings").dataset.count = String(rows.length);
    if (!rows.length) {
      const tr = el("tr");
      const td = cell("no findings yet", "empty");
      td.colSpan = 6;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  }

  async function loadFindings(failures) {
    try {
      renderFindings(await api("findings?limit=" + FINDINGS_LIMIT));
    } catch (e) {
      failures.push(e);
    }
  }

  async function runAgents() {
    const button = $("run-agents");
    const symbol = $("run-symbol").value;
    const result = $("run-result");
    button.disabled = true;
    setText(result, "running…");
    try {
      const path = "agents/run-now" + (symbol ? "?symbol=" + encodeURIComponent(symbol) : "");
      const res = await post(path, "Run agents");
      if (!res) {
        setText(result, "failed");
        result.dataset.count = "";
        return;
      }
      const found = findingsOf(res.body);
      const count = Array.isArray(res.body) || (res.body && Array.isArray(res.body.findings))
        ? found.length
        : isNum(res.body && res.body.count) ? res.body.count : 0;
      state.justRun = new Set(found.map(findingKey));
      result.dataset.count = String(count);
      setText(
        result,
        "ran at " + new Date().toISOString().slice(11, 19) + " UTC: " + plural(count, "finding"),
      );
      await loadFindings([]);
      refresh(true); // agents' status and counts; also redoes a refresh that started before the run
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ agents
  function renderAgents(body) {
    const list = Array.isArray(body) ? body : body && Array.isArray(body.agents) ? body.agents : [];
    const rows = list.map((a) => {
      const tr = el("tr");
      tr.dataset.agent = String(a.name);
      tr.appendChild(cell(a.name));
      tr.appendChild(cell(isNum(a.interval_s) ? fmtValue(a.interval_s) + " s" : DASH, "num"));
      tr.appendChild(el("td")).appendChild(badge(a.status, "agent-" + String(a.status).toLowerCase()));
      tr.appendChild(timeCell(a.last_run));
      tr.appendChild(cell(fmtValue(a.runs), "num"));
      tr.appendChild(cell(fmtValue(a.errors), "num"));
      tr.appendChild(cell(a.last_error || DASH, a.last_error ? "error-text" : ""));
      tr.appendChild(cell(a.description || DASH, "description"));
      return tr;
    });
    $("agents").tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ operations
  const STATE_KIND = { ACTIVE: "ok", STARTING: "warn", WAITING: "warn", ERROR: "bad", SHUTDOWN: "warn" };

  /** One row saying there is nothing to show, across ``span`` columns. */
  function emptyRow(text, span) {
    const tr = el("tr");
    const td = cell(text, "empty");
    td.colSpan = span;
    tr.appendChild(td);
    return tr;
  }

  function renderState(health) {
    const box = $("opstate");
    const state = String(health.state || "");
    box.dataset.state = state;
    const b = $("opstate-badge");
    b.textContent = state || DASH;
    b.className = "badge badge-" + (STATE_KIND[state] || "warn");
    setText($("opstate-reason"), state === "ACTIVE" ? "" : String(health.reason || ""));
    const sched = health.scheduler;
    const note = $("no-scheduler");
    if (sched && typeof sched === "object" && sched.market_data === false) {
      note.hidden = false;
      const why = String(sched.reason || "this process runs no scheduler");
      setText(note, why.charAt(0).toUpperCase() + why.slice(1) + ".");
    } else {
      note.hidden = true;
      note.textContent = "";
    }
    const replay = health.replay;
    const label = $("replay-label");
    if (replay && typeof replay === "object") {
      label.hidden = false;
      setText(
        label,
        "Replay, not a live feed: " + String(replay.source) + ", shifted to today, at " +
          fmtValue(replay.speed) + "x" + (replay.loop ? ", looping" : ""),
      );
    } else {
      label.hidden = true;
    }
  }

  function renderAlerts(body) {
    const active = Array.isArray(body.active) ? body.active : [];
    const recent = Array.isArray(body.recent) ? body.recent : [];
    const activeIds = new Set(active.map((a) => String(a.id)));
    const rows = [];
    for (const a of active.concat(recent.filter((r) => !activeIds.has(String(r.id)))).slice(0, 20)) {
      const tr = el("tr");
      const firing = activeIds.has(String(a.id));
      tr.dataset.rule = String(a.rule);
      tr.dataset.active = firing ? "1" : "0";
      tr.appendChild(timeCell(a.timestamp));
      tr.appendChild(el("td")).appendChild(badge(a.severity, "sev-" + String(a.severity).toLowerCase()));
      tr.appendChild(cell(a.rule));
      const st = a.context && a.context.state ? String(a.context.state) : DASH;
      tr.appendChild(cell(firing ? (a.acknowledged ? "FIRING, acked" : "FIRING") : st));
      tr.appendChild(cell(a.message, "description"));
      const td = el("td");
      if (firing && !a.acknowledged) {
        const btn = el("button", "ack", "Ack");
        btn.type = "button";
        btn.dataset.id = String(a.id);
        td.appendChild(btn);
      }
      tr.appendChild(td);
      rows.push(tr);
    }
    if (!rows.length) {
      rows.push(emptyRow(body.enabled === false ? "monitoring is off (MONITOR_ENABLED)" : "no alerts", 6));
    }
    const table = $("alerts");
    table.dataset.active = String(active.length);
    table.tBodies[0].replaceChildren(...rows);
  }

  async function ackAlert(button) {
    const id = button.dataset.id;
    if (!id) return;
    button.disabled = true;
    const res = await post("api/alerts/" + encodeURIComponent(id) + "/ack", "Acknowledge");
    if (res) showMessage("Alert acknowledged.", "ok");
    await refresh(true);
  }

  function renderSnapshot(snap) {
    const outbox = snap.outbox || {};
    kvList($("outbox"), [
      ["pending", fmtValue(outbox.pending)],
      ["oldest waiting", isNum(outbox.oldest_age_s) ? fmt(outbox.oldest_age_s, 1) + " s" : DASH],
      ["dead", fmtValue(outbox.dead)],
      ["dedupe events 60 min", fmtValue(snap.dedup_events_last_60min)],
    ]);
    const channels = (snap.circuits && Array.isArray(snap.circuits.channels)) ? snap.circuits.channels : [];
    const rows = channels.map((c) => {
      const tr = el("tr");
      tr.dataset.channel = String(c.channel);
      tr.appendChild(cell(c.channel));
      tr.appendChild(el("td")).appendChild(badge(c.state, c.state === "CLOSED" ? "ok" : "bad"));
      return tr;
    });
    if (!rows.length) rows.push(emptyRow("no channel enabled (NOTIFY_*_ENABLED)", 2));
    $("channels").tBodies[0].replaceChildren(...rows);
  }

  function renderErrors(body) {
    const list = Array.isArray(body.errors) ? body.errors : [];
    const rows = list.map((e) => {
      const tr = el("tr");
      tr.dataset.type = String(e.error_type);
      tr.appendChild(cell(e.error_type));
      tr.appendChild(cell(fmtValue(e.occurrence_count), "num"));
      tr.appendChild(timeCell(e.last_occurrence));
      tr.appendChild(el("td")).appendChild(
        badge(e.is_resolved ? "resolved" : "open", e.is_resolved ? "ok" : "bad"),
      );
      tr.appendChild(cell(e.error_message || DASH, "description"));
      return tr;
    });
    if (!rows.length) rows.push(emptyRow("no errors reported", 5));
    const table = $("errors");
    table.dataset.open = String(body.open || 0);
    table.tBodies[0].replaceChildren(...rows);
  }

  async function loadOps(failures) {
    const take = (p) =>
      p.catch((e) => {
        failures.push(e);
        return null;
      });
    const [alerts, snap, errors] = await Promise.all([
      take(api("api/alerts?limit=20")),
      take(api("api/health/snapshot")),
      take(api("api/errors/summary")),
    ]);
    if (alerts) renderAlerts(alerts);
    if (snap) renderSnapshot(snap);
    if (errors) renderErrors(errors);
  }

  // ------------------------------------------------------------------ refresh cycle
  async function doRefresh() {
    const failures = [];
    const take = (p) =>
      p.catch((e) => {
        failures.push(e);
        return null;
      });
    const [health, status, agents] = await Promise.all([
      take(api("health", "GET", [503])), // readiness: 503 with the same body when not ACTIVE
      take(api("api/ingestion/status")),
      take(api("agents")),
    ]);
    if (health && Array.isArray(health.symbols)) state.symbols = health.symbols.map(String);
    if (health) renderState(health);
    if (status && Array.isArray(status.pairs)) {
      state.pairs = status.pairs;
      const tfs = Array.from(new Set(status.pairs.map((p) => String(p.timeframe))));
      state.timeframes = tfs.sort((a, b) => tfSeconds(a) - tfSeconds(b));
      renderPairs(status);
    }
    if (agents) renderAgents(agents);
    syncSelectors();

    const signals = state.symbols.map((s) =>
      api("signals?symbol=" + encodeURIComponent(s)).catch((e) => {
        failures.push(e);
        return e;
      }),
    );
    const [sigs] = await Promise.all([
      Promise.all(signals),
      loadChart(failures),
      loadFindings(failures),
      loadOps(failures),
      status ? loadAnalyses(failures) : Promise.resolve(),
    ]);
    if (health || sigs.some((s) => !(s instanceof ApiError))) renderTiles(state.symbols, sigs, health);

    const updated = $("updated");
    if (!failures.length) {
      hideBanner();
    } else if (failures.every((e) => e.status === 0)) {
      showBanner(
        "The API is unreachable (" + failures[0].message + "). Retrying every " + state.refreshS +
          " s; the data shown is from the last successful update.",
      );
    } else {
      const first = failures.find((e) => e.status !== 0) || failures[0];
      showBanner(
        (authHint(first) || "The API answered with an error on " + first.path + ": " + first.message) +
          (failures.length > 1 ? " (" + failures.length + " requests failed)" : ""),
      );
    }
    if (health) {
      const now = new Date();
      updated.dataset.updated = now.toISOString();
      setText(updated, "updated " + now.toISOString().slice(11, 19) + " UTC");
    }
    updated.classList.toggle("stale", failures.length > 0);
  }

  /** One refresh at a time; ``after`` (an action changed something) waits for the refresh
   * in flight, which may have read the state before the action, and then starts another. */
  function refresh(after) {
    if (state.inflight && after) return state.inflight.then(() => refresh(false));
    if (!state.inflight) {
      state.inflight = doRefresh()
        .catch((e) => showBanner("Dashboard error: " + (e && e.message ? e.message : e)))
        .finally(() => {
          state.inflight = null;
        });
    }
    return state.inflight;
  }

  function schedule() {
    window.clearTimeout(state.timer);
    state.timer = window.setTimeout(async () => {
      await refresh();
      schedule();
    }, state.refreshS * 1000);
  }

  function refreshSeconds() {
    const raw = new URLSearchParams(window.location.search).get("refresh");
    const n = raw === null ? NaN : Number(raw);
    if (!Number.isFinite(n)) return DEFAULT_REFRESH_S;
    return Math.min(MAX_REFRESH_S, Math.max(MIN_REFRESH_S, n));
  }

  // ------------------------------------------------------------------ start
  function start() {
    state.refreshS = refreshSeconds();
    setText($("refresh-every"), "auto-refresh every " + state.refreshS + " s");
    adoptFragmentToken();
    showTokenState();

    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("token-input");
      const token = input.value.trim();
      input.value = "";
      if (!token) {
        showMessage("The token field is empty.", "error");
        return;
      }
      setToken(token);
      showMessage("Token saved for this tab.", "ok");
    });
    $("token-forget").addEventListener("click", () => {
      setToken("");
      showMessage("Token forgotten.", "info");
    });
    $("refresh-now").addEventListener("click", () => {
      refresh();
    });
    $("run-agents").addEventListener("click", () => {
      runAgents();
    });
    $("pairs").addEventListener("click", (ev) => {
      const button = ev.target instanceof Element ? ev.target.closest("button[data-action='close-breaker']") : null;
      if (button && !button.disabled) closeBreaker(button);
    });
    $("alerts").addEventListener("click", (ev) => {
      const button = ev.target instanceof Element ? ev.target.closest("button.ack") : null;
      if (button && !button.disabled) ackAlert(button);
    });
    $("chart-symbol").addEventListener("change", (ev) => {
      state.chartSymbol = ev.target.value;
      state.chartPayload = null;
      state.chartDebug = null;
      loadChart([]);
    });
    $("chart-tf").addEventListener("change", (ev) => {
      state.chartTf = ev.target.value;
      state.chartPayload = null;
      state.chartDebug = null;
      loadChart([]);
    });
    let pending = false;
    window.addEventListener("resize", () => {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(() => {
        pending = false;
        drawChart();
      });
    });

    drawChart();
    refresh().then(schedule);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
