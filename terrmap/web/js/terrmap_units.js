/*
 * TerrmapUnits: the plan's building blocks (counties, ZIP areas, H3 cells,
 * uploaded polygons) painted on one <canvas>, filled in their territory's
 * colour, with faint outlines where they are big enough to read, and the
 * selected units highlighted.
 *
 * The outlines come once per data set from a binary file the app serves
 * (terrmap.web.unitlayer.publish_units):
 *   "TMU1", uint32 n_units, n_rings, n_coords,
 *   int32 unit_start[n_units + 1], int32 ring_start[n_rings + 1],
 *   float32 lon/lat pairs [2 * n_coords]        (all little-endian)
 * Every rerun only sends one territory code per unit and the selection.
 *
 * It is a TerrmapCanvas (terrmap_points.js, loaded first).
 * Why a canvas of our own: 33,000 Leaflet polygons take seconds to build and
 * to redraw; here a redraw is one path per territory, with vertices closer
 * than half a pixel skipped.
 *
 * When the file is drawn, <html data-terrmap-units="ready"> is set (or
 * "failed"), for tests.
 */
(function () {
  "use strict";
  if (window.TerrmapUnits) {
    return;
  }

  var DEG = Math.PI / 180;
  var MAX_LAT = 85.0511287798;
  // Outlines show when a typical unit is at least this wide on screen (CSS px).
  var READABLE_PX = 7;
  var FILL_ALPHA = 0.2;
  var WHITE_SPACE = "rgba(120, 120, 120, 0.16)";

  function mark(state) {
    document.documentElement.setAttribute("data-terrmap-units", state);
  }

  function parse(buffer) {
    var head = new Uint8Array(buffer, 0, 4);
    if (String.fromCharCode(head[0], head[1], head[2], head[3]) !== "TMU1") {
      throw new Error("not a terrmap unit file");
    }
    var counts = new Uint32Array(buffer, 4, 3);
    var n = counts[0];
    var nr = counts[1];
    var nc = counts[2];
    var at = 16;
    var unitStart = new Int32Array(buffer, at, n + 1);
    at += 4 * (n + 1);
    var ringStart = new Int32Array(buffer, at, nr + 1);
    at += 4 * (nr + 1);
    var coords = new Float32Array(buffer, at, 2 * nc);
    // Web Mercator pixels at zoom 0, computed once.
    var xy = new Float64Array(2 * nc);
    for (var i = 0; i < nc; i++) {
      var la = Math.max(-MAX_LAT, Math.min(MAX_LAT, coords[2 * i + 1]));
      var s = Math.sin(la * DEG);
      xy[2 * i] = 256 * (coords[2 * i] / 360 + 0.5);
      xy[2 * i + 1] = 256 * (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI));
    }
    var box = new Float64Array(4 * n);
    var widths = [];
    for (var u = 0; u < n; u++) {
      var x0 = Infinity;
      var y0 = Infinity;
      var x1 = -Infinity;
      var y1 = -Infinity;
      var c0 = ringStart[unitStart[u]];
      var c1 = ringStart[unitStart[u + 1]];
      for (var c = c0; c < c1; c++) {
        var x = xy[2 * c];
        var y = xy[2 * c + 1];
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      box[4 * u] = x0;
      box[4 * u + 1] = y0;
      box[4 * u + 2] = x1;
      box[4 * u + 3] = y1;
      if (c1 > c0) {
        widths.push(Math.max(x1 - x0, y1 - y0));
      }
    }
    widths.sort(function (a, b) {
      return a - b;
    });
    return {
      n: n,
      unitStart: unitStart,
      ringStart: ringStart,
      xy: xy,
      box: box,
      typical: widths.length ? widths[widths.length >> 1] : 0,
    };
  }

  function rgba(hex, alpha) {
    var h = hex.replace("#", "");
    return (
      "rgba(" +
      parseInt(h.substring(0, 2), 16) +
      "," +
      parseInt(h.substring(2, 4), 16) +
      "," +
      parseInt(h.substring(4, 6), 16) +
      "," +
      alpha +
      ")"
    );
  }

  var TerrmapUnits = window.TerrmapCanvas.extend({
    options: { padding: 0.1, pane: "terrmapUnits", className: "terrmap-units" },

    initialize: function (options) {
      window.TerrmapCanvas.prototype.initialize.call(this, options);
      this._units = null;
      this._codes = null;
      this._colors = [];
      this._selected = null;
    },

    load: function (url) {
      var self = this;
      mark("loading");
      return fetch(url)
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.arrayBuffer();
        })
        .then(function (buffer) {
          self._units = parse(buffer);
          self._paint();
          mark("ready");
        })
        .catch(function (error) {
          // The map stays usable with the territory outlines alone.
          console.warn("terrmap: no unit outlines from " + url + ": " + error);
          mark("failed");
        });
    },

    // codes[u] = 0 for no territory, k + 1 for colors[k]; selected = bitmask or null.
    setStyle: function (codes, colors, selected) {
      this._codes = codes;
      this._colors = colors || [];
      this._selected = selected;
      if (this._map) {
        this._paint();
      }
      return this;
    },

    count: function () {
      return this._units ? this._units.n : 0;
    },

    // Add the rings of units `list` to the context's current path.
    _trace: function (list, scale, ox, oy) {
      var U = this._units;
      var ctx = this._ctx;
      var xy = U.xy;
      for (var k = 0; k < list.length; k++) {
        var u = list[k];
        for (var r = U.unitStart[u]; r < U.unitStart[u + 1]; r++) {
          var c0 = U.ringStart[r];
          var c1 = U.ringStart[r + 1];
          if (c1 - c0 < 3) {
            continue;
          }
          var lx = xy[2 * c0] * scale - ox;
          var ly = xy[2 * c0 + 1] * scale - oy;
          ctx.moveTo(lx, ly);
          for (var c = c0 + 1; c < c1; c++) {
            var x = xy[2 * c] * scale - ox;
            var y = xy[2 * c + 1] * scale - oy;
            // Vertices within half a pixel of the last one drawn add nothing.
            if (c < c1 - 1 && Math.abs(x - lx) < 0.5 && Math.abs(y - ly) < 0.5) {
              continue;
            }
            ctx.lineTo(x, y);
            lx = x;
            ly = y;
          }
          ctx.closePath();
        }
      }
    },

    _paint: function () {
      var U = this._units;
      if (!this._ctx || !this._bounds || !U) {
        return;
      }
      var t0 = performance.now();
      var c = this._container;
      var ctx = this._ctx;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, c.width, c.height);
      var map = this._map;
      var m = this._ratio || 1;
      var zoom = map.getZoom();
      var scale = Math.pow(2, zoom) * m;
      var origin = map.getPixelOrigin();
      var ox = (origin.x + this._bounds.min.x) * m;
      var oy = (origin.y + this._bounds.min.y) * m;
      // The view in zoom-0 pixels.
      var vx0 = ox / scale;
      var vy0 = oy / scale;
      var vx1 = (ox + c.width) / scale;
      var vy1 = (oy + c.height) / scale;
      var codes = this._codes;
      var sel = this._selected;
      var groups = [];
      var chosen = [];
      for (var k = 0; k <= this._colors.length; k++) {
        groups.push([]);
      }
      var box = U.box;
      for (var u = 0; u < U.n; u++) {
        if (box[4 * u + 2] < vx0 || box[4 * u] > vx1 || box[4 * u + 3] < vy0 || box[4 * u + 1] > vy1) {
          continue;
        }
        var code = codes && u < codes.length ? codes[u] : 0;
        (groups[code] || groups[0]).push(u);
        if (sel !== null && (sel[u >> 3] >> (u & 7)) & 1) {
          chosen.push(u);
        }
      }
      var readable = U.typical * scale >= READABLE_PX * m;
      ctx.lineJoin = "round";
      for (k = 0; k < groups.length; k++) {
        if (!groups[k].length) {
          continue;
        }
        ctx.beginPath();
        this._trace(groups[k], scale, ox, oy);
        ctx.fillStyle = k === 0 ? WHITE_SPACE : rgba(this._colors[k - 1], FILL_ALPHA);
        ctx.fill("evenodd");
        if (readable) {
          ctx.strokeStyle = "rgba(60, 60, 60, 0.28)";
          ctx.lineWidth = 0.6 * m;
          ctx.stroke();
        }
      }
      if (chosen.length) {
        ctx.beginPath();
        this._trace(chosen, scale, ox, oy);
        ctx.fillStyle = "rgba(17, 17, 17, 0.22)";
        ctx.fill("evenodd");
        ctx.strokeStyle = "#111";
        ctx.lineWidth = 1.5 * m;
        ctx.stroke();
      }
      this.lastPaint = { ms: performance.now() - t0, readable: readable, selected: chosen.length };
    },
  });

  window.TerrmapUnits = TerrmapUnits;
})();
