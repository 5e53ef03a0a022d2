/* Townmap's own Leaflet pieces, served by the app (no CDN).
 *
 * L.TownmapPoints  — tens of thousands of points drawn on one canvas from compact,
 *                    gzip-compressed arrays; hover tooltips and clicks by nearest point.
 *                    The tooltip text is a second file (options.details), fetched when
 *                    the cursor first enters the map or on the first tap.
 * L.TownmapCoords  — the cursor position in WGS 84 and CGCS2000 Gauss–Krüger.
 * townmapLegend    — the legend, listing only the layers on the map.
 *
 * User text is only ever put into the page with textContent, never innerHTML.
 */
(function () {
  "use strict";

  /* A layer's data: gzip-compressed JSON, fetched from the app ({url}) or inline ({b64}). */
  async function inflate(source) {
    window.townmapPending = (window.townmapPending || 0) + 1;
    try {
      return await load(source);
    } finally {
      window.townmapPending -= 1;
    }
  }

  async function load(source) {
    const tag = (source.url || "inline").split("/").pop().slice(0, 14);
    performance.mark("townmap-load-start " + tag);
    let blob;
    if (source.url) {
      const response = await fetch(source.url);
      if (!response.ok) throw new Error("townmap: cannot load " + source.url);
      blob = await response.blob();
    } else {
      const bin = atob(source.b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      blob = new Blob([bytes]);
    }
    performance.mark("townmap-fetched " + tag);
    const stream = blob.stream().pipeThrough(new DecompressionStream("gzip"));
    const text = await new Response(stream).text();
    performance.mark("townmap-inflated " + tag);
    const data = JSON.parse(text);
    performance.mark("townmap-parsed " + tag);
    return data;
  }

  /* Numeric key of a screen grid cell (cells may be slightly off-screen: offset them). */
  function cellKey(gx, gy) { return (gx + 64) * 8192 + (gy + 64); }

  function undelta(values) {
    const out = new Float64Array(values.length);
    let acc = 0;
    for (let i = 0; i < values.length; i++) { acc += values[i]; out[i] = acc / 1e5; }
    return out;
  }

  function fieldText(field, i) {
    if (field.kind === "code") { return field.dict[field.codes[i]] || ""; }
    const v = field.values[i];
    if (v === null || v === undefined || v === "") return "–";
    if (field.kind === "num") {
      const n = Number(v);
      const text = Math.abs(n) >= 1000 ? n.toLocaleString(undefined, {maximumFractionDigits: 0})
        : n.toLocaleString(undefined, {maximumSignificantDigits: 3});
      return field.unit ? text + " " + field.unit : text;
    }
    return String(v);
  }

  function table(rows) {
    const el = document.createElement("table");
    el.className = "townmap-fields";
    rows.forEach(function (r) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = r[0];
      const td = document.createElement("td");
      td.textContent = r[1];
      tr.appendChild(th); tr.appendChild(td); el.appendChild(tr);
    });
    return el;
  }

  function fieldsTable(fields, i) {
    return table(fields.map(function (f) { return [f.label, fieldText(f, i)]; }));
  }

  /* Shown in a tooltip or popup while its text is still on its way. */
  function waiting() {
    const el = document.createElement("span");
    el.className = "townmap-waiting";
    el.textContent = "…";
    return el;
  }

  /* While any point layer shows a tooltip: a pointer cursor, and the tooltips of the areas
     under it hidden (CSS), so only the point's shows. */
  function markOnPoint(map) {
    const on = (window.townmapPointLayers || []).some((l) => l._tip);
    const box = map.getContainer();
    L.DomUtil[on ? "addClass" : "removeClass"](box, "townmap-on-point");
    box.style.cursor = on ? "pointer" : "";
  }

  L.TownmapPoints = L.Layer.extend({
    options: {pane: "markerPane", hitPadding: 4},

    initialize: function (source, options) {
      L.setOptions(this, options);
      this._source = source;
      this._data = null;
      this._ready = null;
    },

    /* Data is fetched when the layer is first shown: hidden layers cost nothing. */
    _load: function () {
      if (this._ready) return this._ready;
      this._ready = inflate(this._source).then((data) => {
        this._data = data;
        this._lat = undelta(data.lat);
        this._lng = undelta(data.lng);
        this._n = this._lat.length;
        if (this._map) { this._reset(); }
        if (this.options.legend && window.townmapLegend && this._map) {
          window.townmapLegend.register(this, data.legend);
        }
        return this;
      });
      return this._ready;
    },

    ready: function () { return this._load(); },

    /* The tooltip text: fetched once, on demand (a failed fetch is retried next time). */
    details: function () {
      if (this._detailsReady) return this._detailsReady;
      const source = this.options.details;
      const text = source ? inflate(source).then((d) => d.tooltip)
        : this._load().then((data) => data.tooltip || []);
      this._detailsReady = text.then((tooltip) => {
        this._tooltip = tooltip;
        return tooltip;
      }, (err) => {
        this._detailsReady = null;
        throw err;
      });
      return this._detailsReady;
    },

    /* The text of point i now if it is here, else a placeholder replaced when it comes. */
    _content: function (i, overlay) {
      if (this._tooltip) return fieldsTable(this._tooltip, i);
      this.details().then(() => {
        if (overlay.isOpen() && overlay.townmapIndex === i) {
          overlay.setContent(fieldsTable(this._tooltip, i));
        }
      }, () => { /* stays "…"; the next hover or tap tries again */ });
      return waiting();
    },

    _prefetch: function () {
      this.details().catch(() => { /* retried on the next hover or tap */ });
    },

    count: function () { return this._n || 0; },
    latLngOf: function (i) { return L.latLng(this._lat[i], this._lng[i]); },
    keyOf: function (i) { return "townmap:" + this._data.layer + ":" + this._data.ids[i]; },

    indexOfId: function (id) {
      if (!this._data) return -1;
      return this._data.ids.indexOf(id);
    },

    onAdd: function (map) {
      this._canvas = L.DomUtil.create("canvas", "townmap-points leaflet-zoom-hide");
      this.getPane().appendChild(this._canvas);
      map.on("moveend zoomend resize viewreset", this._reset, this);
      map.on("mousemove", this._onMove, this);
      map.once("mouseover", this._prefetch, this);
      window.townmapPointLayers = (window.townmapPointLayers || []).concat([this]);
      this._load();
      if (this._data) { this._reset(); }
      if (this._data && this.options.legend && window.townmapLegend) {
        window.townmapLegend.register(this, this._data.legend);
      }
    },

    onRemove: function (map) {
      map.off("moveend zoomend resize viewreset", this._reset, this);
      map.off("mousemove", this._onMove, this);
      map.off("mouseover", this._prefetch, this);
      window.townmapPointLayers = (window.townmapPointLayers || []).filter((l) => l !== this);
      L.DomUtil.remove(this._canvas);
      if (this._tip) { map.removeLayer(this._tip); this._tip = null; }
      markOnPoint(map);
      if (window.townmapLegend) { window.townmapLegend.refresh(); }
    },

    _radius: function (i) {
      const d = this._data;
      return d.sizes ? d.sizes[i] : d.radius;
    },

    _reset: function () {
      if (!this._map || !this._data) return;
      const map = this._map;
      const size = map.getSize();
      const topLeft = map.containerPointToLayerPoint([0, 0]);
      L.DomUtil.setPosition(this._canvas, topLeft);
      const ratio = window.devicePixelRatio || 1;
      this._canvas.width = size.x * ratio;
      this._canvas.height = size.y * ratio;
      this._canvas.style.width = size.x + "px";
      this._canvas.style.height = size.y + "px";
      const ctx = this._canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, size.x, size.y);
      const d = this._data;
      const xs = new Float32Array(this._n);
      const ys = new Float32Array(this._n);
      const cell = 24;
      const grid = new Map();
      const byColour = new Map();
      // world pixels at zoom 0 are computed once; a redraw is one multiply-add per point
      if (!this._wx) {
        this._wx = new Float64Array(this._n);
        this._wy = new Float64Array(this._n);
        const crs = map.options.crs;
        for (let i = 0; i < this._n; i++) {
          const w = crs.latLngToPoint(L.latLng(this._lat[i], this._lng[i]), 0);
          this._wx[i] = w.x; this._wy[i] = w.y;
        }
      }
      const k = map.options.crs.scale(map.getZoom()) / map.options.crs.scale(0);
      const origin = map.getPixelOrigin();
      const shift = map.containerPointToLayerPoint([0, 0]);
      const ox = origin.x + shift.x, oy = origin.y + shift.y;
      for (let i = 0; i < this._n; i++) {
        const px = this._wx[i] * k - ox, py = this._wy[i] * k - oy;
        xs[i] = px; ys[i] = py;
        if (px < -20 || py < -20 || px > size.x + 20 || py > size.y + 20) continue;
        const c = d.cls ? d.cls[i] : 0;
        if (!byColour.has(c)) byColour.set(c, []);
        byColour.get(c).push(i);
        const key = cellKey(Math.floor(px / cell), Math.floor(py / cell));
        if (!grid.has(key)) grid.set(key, []);
        grid.get(key).push(i);
      }
      ctx.lineWidth = d.weight;
      ctx.strokeStyle = d.stroke;
      ctx.globalAlpha = d.opacity;
      byColour.forEach((idx, c) => {
        ctx.fillStyle = d.palette[c] || d.palette[0];
        ctx.beginPath();
        idx.forEach((i) => {
          const r = this._radius(i);
          ctx.moveTo(xs[i] + r, ys[i]);
          ctx.arc(xs[i], ys[i], r, 0, 2 * Math.PI);
        });
        ctx.fill();
        if (d.weight > 0) ctx.stroke();
      });
      this._xs = xs; this._ys = ys; this._grid = grid; this._cell = cell;
      this._drawn = Array.from(byColour.values()).reduce((a, b) => a + b.length, 0);
      this._canvas.dataset.drawn = String(this._drawn);
      performance.mark("townmap-drawn " + d.layer);
      this.fire("drawn", {count: this._drawn});
    },

    _nearest: function (point) {
      if (!this._grid) return -1;
      const cx = Math.floor(point.x / this._cell), cy = Math.floor(point.y / this._cell);
      let best = -1, bestD = Infinity;
      for (let gx = cx - 1; gx <= cx + 1; gx++) {
        for (let gy = cy - 1; gy <= cy + 1; gy++) {
          const bucket = this._grid.get(cellKey(gx, gy));
          if (!bucket) continue;
          for (const i of bucket) {
            const dx = this._xs[i] - point.x, dy = this._ys[i] - point.y;
            const dist = Math.sqrt(dx * dx + dy * dy);
            if (dist <= this._radius(i) + this.options.hitPadding && dist < bestD) {
              best = i; bestD = dist;
            }
          }
        }
      }
      return best;
    },

    _onMove: function (e) {
      this._hover(e);
      markOnPoint(this._map);
    },

    _hover: function (e) {
      const i = this._nearest(e.containerPoint);
      const map = this._map;
      if (i < 0) {
        if (this._tip) { map.removeLayer(this._tip); this._tip = null; }
        return;
      }
      if (this._tipIndex === i && this._tip) return;
      this._tipIndex = i;
      if (this._tip) map.removeLayer(this._tip);
      const tip = L.tooltip({direction: "top", offset: [0, -6], className: "townmap-tooltip"});
      tip.townmapIndex = i;
      this._tip = tip.setLatLng(this.latLngOf(i)).setContent(this._content(i, tip)).addTo(map);
    },

    /* Open the popup of point i (the click dispatcher reports it to Streamlit); the
       promise settles when its text is shown. */
    openAt: function (i) {
      const popup = L.popup({className: "townmap-popup", maxWidth: 360});
      popup.townmapIndex = i;
      popup.setLatLng(this.latLngOf(i)).setContent(this._content(i, popup)).openOn(this._map);
      return this.details();
    },
  });

  L.townmapPoints = function (payload, options) { return new L.TownmapPoints(payload, options); };

  /* ------------------------------------------------------------------ clicks */
  // One layer, always on the map, reports every click to Streamlit. streamlit-folium binds
  // its click handler to the layers on the map when it starts, so reporting through this
  // layer works for point layers switched on later too. The clicked object is identified
  // by a key in the "tooltip" it reads: townmap:<layer>:<id>, or townmap:@ for a place.
  L.TownmapClicks = L.Layer.extend({
    onAdd: function (map) {
      window.townmapClicks = this;
      map.on("click", this._mapClick, this);
    },
    onRemove: function (map) { map.off("click", this._mapClick, this); },
    _mapClick: function (e) { this.handle(e, null); },
    /* Points first (they are drawn on top), then the clicked shape, then the place. */
    handle: function (e, shape) {
      const map = this._map;
      const layers = (window.townmapPointLayers || []).filter((l) => map.hasLayer(l));
      for (let k = layers.length - 1; k >= 0; k--) {
        const i = layers[k]._nearest(e.containerPoint);
        if (i >= 0) {
          layers[k].openAt(i);
          this.report(layers[k].latLngOf(i), layers[k].keyOf(i));
          return;
        }
      }
      if (shape) {
        shape.open(e.latlng);
        this.report(e.latlng, shape.key);
        return;
      }
      this.report(e.latlng, "townmap:@");
    },
    report: function (latlng, key) {
      // after any other click handlers, so this report is the one Streamlit receives
      setTimeout(() => this._send(latlng, key), 0);
    },
    _send: function (latlng, key) {
      window.townmapLastClick = key;
      this.fire("click", {
        latlng: latlng,
        sourceTarget: {
          _tooltip: {_content: key},
          getTooltip: function () { return {getContent: function () { return key; }}; },
        },
      });
    },
  });
  L.townmapClicks = function () { return new L.TownmapClicks(); };

  /* ------------------------------------------------------------------ shapes */
  // Lines and polygons from a served (or inline) GeoJSON with formatted display fields.
  L.TownmapShapes = L.FeatureGroup.extend({
    initialize: function (source, style) {
      L.FeatureGroup.prototype.initialize.call(this, []);
      this._source = source;
      this._style = style;
      this._ready = null;
    },
    onAdd: function (map) {
      L.FeatureGroup.prototype.onAdd.call(this, map);
      this._load();
    },
    /* Data is fetched when the layer is first shown: hidden layers cost nothing. */
    _load: function () {
      if (this._ready) return this._ready;
      this._ready = inflate(this._source).then((data) => {
        this._data = data;
        const st = this._style;
        const geo = L.geoJSON(data.geojson, {
          style: function (f) {
            const out = {color: st.color, weight: st.weight, opacity: st.opacity,
                         fillColor: f.properties._fill, fillOpacity: st.fillOpacity};
            if (st.lineByCategory) out.color = f.properties._fill;
            if (st.dash) out.dashArray = st.dash;
            return out;
          },
          onEachFeature: (f, layer) => {
            const p = f.properties;
            layer.bindTooltip(() => table(data.tooltip.map((d) => [d.label, p[d.name]])),
                              {sticky: true, className: "townmap-tooltip townmap-shape-tooltip"});
            layer.on("click", (e) => {
              L.DomEvent.stopPropagation(e);
              const shape = {
                key: "townmap:" + data.layer + ":" + p._k,
                open: (latlng) => L.popup({maxWidth: 360})
                  .setLatLng(latlng)
                  .setContent(table(data.popup.map((d) => [d.label, p[d.name]])))
                  .openOn(this._map),
              };
              if (window.townmapClicks) window.townmapClicks.handle(e, shape);
            });
          },
        });
        this.addLayer(geo);
        this.fire("drawn", {count: data.geojson.features.length});
        return this;
      });
      return this._ready;
    },
    ready: function () { return this._load(); },
    count: function () { return this._data ? this._data.geojson.features.length : 0; },
  });
  L.townmapShapes = function (source, style) { return new L.TownmapShapes(source, style); };

  /* ------------------------------------------------------------------ coordinates */
  // Transverse Mercator (Snyder, Map Projections, eqs. 8-9 to 8-15) on the CGCS2000 ellipsoid.
  const A = 6378137.0, F = 1 / 298.257222101, E2 = F * (2 - F), EP2 = E2 / (1 - E2);

  function meridianArc(phi) {
    const e4 = E2 * E2, e6 = e4 * E2;
    return A * ((1 - E2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
      - (3 * E2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * Math.sin(2 * phi)
      + (15 * e4 / 256 + 45 * e6 / 1024) * Math.sin(4 * phi)
      - (35 * e6 / 3072) * Math.sin(6 * phi));
  }

  function gaussKruger(lat, lng, cm, falseEasting) {
    const phi = lat * Math.PI / 180, dl = (lng - cm) * Math.PI / 180;
    const s = Math.sin(phi), c = Math.cos(phi), t = Math.tan(phi);
    const n = A / Math.sqrt(1 - E2 * s * s);
    const T = t * t, C = EP2 * c * c, Aa = dl * c;
    const M = meridianArc(phi);
    const x = n * (Aa + (1 - T + C) * Math.pow(Aa, 3) / 6
      + (5 - 18 * T + T * T + 72 * C - 58 * EP2) * Math.pow(Aa, 5) / 120);
    const y = M + n * t * (Aa * Aa / 2 + (5 - T + 9 * C + 4 * C * C) * Math.pow(Aa, 4) / 24
      + (61 - 58 * T + T * T + 600 * C - 330 * EP2) * Math.pow(Aa, 6) / 720);
    return {easting: x + falseEasting, northing: y};
  }
  window.townmapGaussKruger = gaussKruger;

  L.TownmapCoords = L.Control.extend({
    options: {position: "bottomleft", cm: 120, falseEasting: 500000, label: "CGCS2000 GK"},
    onAdd: function (map) {
      const div = L.DomUtil.create("div", "townmap-coords");
      div.textContent = "—";
      map.on("mousemove", function (e) {
        const ll = e.latlng;
        const gk = gaussKruger(ll.lat, ll.lng, this.options.cm, this.options.falseEasting);
        div.textContent = "WGS 84 " + ll.lat.toFixed(5) + "°N " + ll.lng.toFixed(5) + "°E  ·  "
          + this.options.label + " E " + Math.round(gk.easting).toLocaleString("en-US")
          + " m, N " + Math.round(gk.northing).toLocaleString("en-US") + " m";
      }, this);
      return div;
    },
  });
  L.townmapCoords = function (options) { return new L.TownmapCoords(options); };

  /* ------------------------------------------------------------------ legend */
  L.TownmapLegend = L.Control.extend({
    options: {position: "bottomright", title: "Legend"},
    initialize: function (entries, options) {
      L.setOptions(this, options);
      this._entries = entries;  // [{layer, title, items: [{color, label, shape}]}]
      this._dynamic = [];
      window.townmapLegend = this;
    },
    onAdd: function (map) {
      this._div = L.DomUtil.create("div", "townmap-legend");
      L.DomEvent.disableScrollPropagation(this._div);
      L.DomEvent.disableClickPropagation(this._div);
      map.on("overlayadd overlayremove", this.refresh, this);
      setTimeout(this.refresh.bind(this), 0);
      return this._div;
    },
    register: function (layer, entry) {
      this._dynamic = this._dynamic.filter(function (d) { return d.layer !== layer; });
      this._dynamic.push({layer: layer, title: entry.title, items: entry.items});
      this.refresh();
    },
    refresh: function () {
      if (!this._div || !this._map) return;
      const div = this._div, map = this._map;
      div.replaceChildren();
      const head = document.createElement("div");
      head.className = "townmap-legend-title";
      head.textContent = this.options.title;
      div.appendChild(head);
      this._dynamic.concat(this._entries).forEach(function (e) {
        if (!e.layer || !map.hasLayer(e.layer)) return;
        const block = document.createElement("div");
        if (e.items.length > 1) {
          const t = document.createElement("b");
          t.textContent = e.title;
          block.appendChild(t);
        }
        e.items.forEach(function (it) {
          const row = document.createElement("div");
          const sw = document.createElement("i");
          sw.className = "townmap-swatch townmap-swatch-" + it.shape;
          sw.style.setProperty("--swatch", it.color);
          if (it.size) { sw.style.width = sw.style.height = (2 * it.size) + "px"; }
          row.appendChild(sw);
          row.appendChild(document.createTextNode(" " + (e.items.length > 1 ? it.label : e.title)));
          block.appendChild(row);
        });
        div.appendChild(block);
      });
    },
  });
  L.townmapLegend = function (entries, options) { return new L.TownmapLegend(entries, options); };
})();
