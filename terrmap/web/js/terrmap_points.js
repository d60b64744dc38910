/*
 * TerrmapPoints: a Leaflet renderer that paints up to a few hundred thousand
 * account points on one <canvas>.
 *
 * Why not L.circleMarker: one Leaflet layer per account costs seconds at 20k.
 * Why ImageData stamping instead of ctx.arc: writing ~30 pixels per point into
 * a Uint32Array is an order of magnitude faster than building canvas paths,
 * so the whole set is repainted on every move/zoom (no aggregation needed).
 *
 * Extending L.Renderer gives the pane handling, padding and zoom-animation
 * transforms Leaflet uses for its own canvas renderer.
 */
(function () {
  "use strict";
  if (window.TerrmapPoints) {
    return;
  }

  var DEG = Math.PI / 180;
  var MAX_LAT = 85.0511287798;

  function rgba32(hex, factor) {
    var h = hex.replace("#", "");
    var r = parseInt(h.substring(0, 2), 16) * factor;
    var g = parseInt(h.substring(2, 4), 16) * factor;
    var b = parseInt(h.substring(4, 6), 16) * factor;
    // ImageData is RGBA in memory; a little-endian Uint32 view reads it as ABGR.
    return ((255 << 24) | (Math.round(b) << 16) | (Math.round(g) << 8) | Math.round(r)) >>> 0;
  }

  // Flat pixel offsets of a disc (fill) and of its rim (edge), for a canvas width.
  function stamp(radius, width) {
    var fill = [];
    var edge = [];
    var r = Math.ceil(radius);
    for (var dy = -r; dy <= r; dy++) {
      for (var dx = -r; dx <= r; dx++) {
        var d = Math.sqrt(dx * dx + dy * dy);
        if (d <= radius - 1) {
          fill.push(dy * width + dx);
        } else if (d <= radius + 0.25) {
          edge.push(dy * width + dx);
        }
      }
    }
    return { fill: Int32Array.from(fill), edge: Int32Array.from(edge), reach: r };
  }

  function radiusForZoom(zoom) {
    if (zoom < 6) {
      return 2.5;
    }
    if (zoom < 9) {
      return 3.5;
    }
    if (zoom < 12) {
      return 4.5;
    }
    return 5.5;
  }

  /*
   * A canvas over the view that repaints itself (this._paint) on every move
   * and zoom; shared by the points and the units (terrmap_units.js).
   */
  var TerrmapCanvas = L.Renderer.extend({
    options: { padding: 0.1, className: "terrmap-canvas" },

    _initContainer: function () {
      var c = (this._container = document.createElement("canvas"));
      c.className = this.options.className;
      c.style.pointerEvents = "none";
      this._ctx = c.getContext("2d");
    },

    _destroyContainer: function () {
      L.DomUtil.remove(this._container);
      delete this._ctx;
      delete this._container;
    },

    _updatePaths: function () {},

    _update: function () {
      if (this._map._animatingZoom && this._bounds) {
        return;
      }
      L.Renderer.prototype._update.call(this);
      var b = this._bounds;
      var size = b.getSize();
      var m = window.devicePixelRatio || 1;
      var c = this._container;
      L.DomUtil.setPosition(c, b.min);
      var w = Math.round(m * size.x);
      var h = Math.round(m * size.y);
      if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
        c.style.width = size.x + "px";
        c.style.height = size.y + "px";
      }
      this._ratio = m;
      this._paint();
    },
  });
  window.TerrmapCanvas = TerrmapCanvas;

  var TerrmapPoints = TerrmapCanvas.extend({
    options: { padding: 0.1, pane: "terrmapPoints", className: "terrmap-points", unassignedColor: "#6f6f6f" },

    initialize: function (lon, lat, options) {
      TerrmapCanvas.prototype.initialize.call(this, options);
      var n = lon.length;
      this._n = n;
      this._lon = lon;
      this._lat = lat;
      // Web Mercator pixels at zoom 0 (256 px world), computed once.
      this._px = new Float64Array(n);
      this._py = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var la = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat[i]));
        var s = Math.sin(la * DEG);
        this._px[i] = 256 * (lon[i] / 360 + 0.5);
        this._py[i] = 256 * (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI));
      }
      this._codes = null;
      this._fill32 = new Uint32Array(0);
      this._edge32 = new Uint32Array(0);
      this._selected = null;
      this._dimmed = null;
      this._sizes = null;
      // Bitmask of points drawn with a ring (named-account exceptions), or null.
      this._rings = null;
      this._dimColor = rgba32("#c9c9c9", 1);
      this._unassignedEdge = rgba32(this.options.unassignedColor, 1);
      this._haloOuter = rgba32("#111111", 1);
      this._haloInner = rgba32("#ffffff", 1);
    },

    // codes[i] = 0 for unassigned, k + 1 for colors[k]; selected = bitmask or null.
    setStyle: function (codes, colors, selected) {
      this._codes = codes;
      this._fill32 = new Uint32Array(colors.length + 1);
      this._edge32 = new Uint32Array(colors.length + 1);
      for (var k = 0; k < colors.length; k++) {
        this._fill32[k + 1] = rgba32(colors[k], 1);
        this._edge32[k + 1] = rgba32(colors[k], 0.55);
      }
      this._selected = selected;
      if (this._map) {
        this._paint();
      }
      return this;
    },

    isDimmed: function (i) {
      var d = this._dimmed;
      return d !== null && ((d[i >> 3] >> (i & 7)) & 1) === 1;
    },

    _paint: function () {
      if (!this._ctx || !this._bounds) {
        return;
      }
      var c = this._container;
      var W = c.width;
      var H = c.height;
      if (W === 0 || H === 0) {
        return;
      }
      if (!this._img || this._img.width !== W || this._img.height !== H) {
        this._img = this._ctx.createImageData(W, H);
        this._buf = new Uint32Array(this._img.data.buffer);
      }
      var buf = this._buf;
      buf.fill(0);
      var map = this._map;
      var m = this._ratio || 1;
      var zoom = map.getZoom();
      var scale = Math.pow(2, zoom) * m;
      var origin = map.getPixelOrigin();
      var ox = (origin.x + this._bounds.min.x) * m;
      var oy = (origin.y + this._bounds.min.y) * m;
      var radius = radiusForZoom(zoom) * m;
      var sizes = this._sizes;
      var dimmed = this._dimmed;
      // Size classes scale the disc: smallest to largest measure quartile.
      var scales = [0.75, 1.0, 1.35, 1.8];
      var dots = scales.map(function (k) {
        return stamp(radius * k, W);
      });
      var dimDot = stamp(Math.max(1.5 * m, radius * 0.6), W);
      var dot = dots[1];
      var halo = stamp(radius * (sizes ? 1.8 : 1) + 2.5 * m, W);
      var inner = stamp(radius * (sizes ? 1.8 : 1) + 1.2 * m, W);
      var n = this._n;
      var px = this._px;
      var py = this._py;
      var codes = this._codes;
      var sel = this._selected;
      var fill32 = this._fill32;
      var edge32 = this._edge32;
      var reach = halo.reach;
      // Small discs are mostly rim; a dark rim would turn dense clusters black.
      var rimmed = radius >= 3.5 * m;
      var onCanvas = new Int32Array(n);
      var i, j, x, y, at, code, f, e;
      for (i = 0; i < n; i++) {
        x = Math.round(px[i] * scale - ox);
        y = Math.round(py[i] * scale - oy);
        onCanvas[i] = x >= reach && y >= reach && x < W - reach && y < H - reach ? y * W + x : -1;
      }
      // Filtered-out points first, faint, then unassigned so assigned points are
      // painted over them, selected last.
      if (dimmed !== null) {
        for (i = 0; i < n; i++) {
          at = onCanvas[i];
          if (at < 0 || !((dimmed[i >> 3] >> (i & 7)) & 1)) {
            continue;
          }
          for (j = 0; j < dimDot.fill.length; j++) {
            buf[at + dimDot.fill[j]] = this._dimColor;
          }
        }
      }
      for (var pass = 0; pass < 3; pass++) {
        for (i = 0; i < n; i++) {
          at = onCanvas[i];
          if (at < 0) {
            continue;
          }
          if (dimmed !== null && (dimmed[i >> 3] >> (i & 7)) & 1) {
            continue;
          }
          code = codes ? codes[i] : 0;
          dot = sizes ? dots[sizes[i] & 3] : dots[1];
          var isSel = sel !== null && (sel[i >> 3] >> (i & 7)) & 1;
          if (pass === 0 && (code !== 0 || isSel)) {
            continue;
          }
          if (pass === 1 && (code === 0 || isSel)) {
            continue;
          }
          if (pass === 2) {
            if (!isSel) {
              continue;
            }
            for (j = 0; j < halo.fill.length; j++) {
              buf[at + halo.fill[j]] = this._haloOuter;
            }
            for (j = 0; j < inner.fill.length; j++) {
              buf[at + inner.fill[j]] = this._haloInner;
            }
          }
          if (code === 0) {
            e = this._unassignedEdge;
            for (j = 0; j < dot.edge.length; j++) {
              buf[at + dot.edge[j]] = e;
            }
            continue;
          }
          f = fill32[code];
          e = rimmed ? edge32[code] : f;
          for (j = 0; j < dot.fill.length; j++) {
            buf[at + dot.fill[j]] = f;
          }
          for (j = 0; j < dot.edge.length; j++) {
            buf[at + dot.edge[j]] = e;
          }
        }
      }
      var rings = this._rings;
      if (rings !== null) {
        // A dark ring with a white rim inside, around the disc: visible on any fill.
        var ringOuter = stamp(radius * (sizes ? 1.8 : 1) + 3.2 * m, W);
        var ringMid = stamp(radius * (sizes ? 1.8 : 1) + 2.2 * m, W);
        var ringInner = stamp(radius * (sizes ? 1.8 : 1) + 1.2 * m, W);
        for (i = 0; i < n; i++) {
          at = onCanvas[i];
          if (at < 0 || !((rings[i >> 3] >> (i & 7)) & 1)) {
            continue;
          }
          if (at - ringOuter.reach * W - ringOuter.reach < 0 || at + ringOuter.reach * W + ringOuter.reach >= buf.length) {
            continue;
          }
          for (j = 0; j < ringOuter.edge.length; j++) {
            buf[at + ringOuter.edge[j]] = this._haloOuter;
          }
          for (j = 0; j < ringMid.edge.length; j++) {
            buf[at + ringMid.edge[j]] = this._haloOuter;
          }
          for (j = 0; j < ringInner.edge.length; j++) {
            buf[at + ringInner.edge[j]] = this._haloInner;
          }
        }
      }
      this._ctx.putImageData(this._img, 0, 0);
    },

    // Index of the point nearest to a container point, or -1 beyond tolerance (CSS px).
    hit: function (containerPoint, tolerance) {
      var map = this._map;
      var lp = map.containerPointToLayerPoint(containerPoint);
      var origin = map.getPixelOrigin();
      var scale = Math.pow(2, map.getZoom());
      var gx = lp.x + origin.x;
      var gy = lp.y + origin.y;
      var reach = radiusForZoom(map.getZoom()) * (this._sizes ? 1.8 : 1) + tolerance;
      var best = -1;
      var bestD = reach * reach;
      for (var i = 0; i < this._n; i++) {
        if (this._dimmed !== null && (this._dimmed[i >> 3] >> (i & 7)) & 1) {
          continue;
        }
        var dx = this._px[i] * scale - gx;
        var dy = this._py[i] * scale - gy;
        var d = dx * dx + dy * dy;
        if (d <= bestD) {
          best = i;
          bestD = d;
        }
      }
      return best;
    },

    lonAt: function (i) {
      return this._lon[i];
    },

    latAt: function (i) {
      return this._lat[i];
    },
  });

  window.TerrmapPoints = TerrmapPoints;
})();
