/*
 * terrmap glue: selection tools, legend, labels and the update entry point.
 *
 * terrmap.init(map, config) runs once with the base map; terrmap.update(payload)
 * runs from the feature group streamlit-folium re-evaluates on every rerun whose
 * payload changed, so colours change without rebuilding the map.
 *
 * Every selection (rectangle, polygon, lasso, point click) is reported through
 * the events streamlit-folium already listens to ("draw:created" and a layer
 * "click"), tagged with a unique terrmap_event id so the page can tell a new
 * selection from a stale return value.
 *
 * All strings arriving in payloads are already HTML-escaped in Python.
 */
(function () {
  "use strict";
  if (window.terrmap) {
    return;
  }
  var T = (window.terrmap = { map: null });
  var seq = 0;
  // Clicks that end a lasso/draw gesture must not also select a point.
  var toolBusyUntil = 0;
  var toolActive = false;

  function eventId() {
    seq += 1;
    T.lastEventId = Date.now().toString(36) + "-" + seq;
    return T.lastEventId;
  }

  function b64Bytes(b64) {
    var bin = atob(b64);
    var n = bin.length;
    var out = new Uint8Array(n);
    for (var i = 0; i < n; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out;
  }
  T.b64Bytes = b64Bytes;

  /*
   * The positions file, read synchronously so that updates arriving with the
   * map find the points in place. A synchronous request cannot ask for an
   * ArrayBuffer, so the bytes come through a binary string.
   */
  function fetchBytes(url) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url, false);
    xhr.overrideMimeType("text/plain; charset=x-user-defined");
    xhr.send(null);
    if (xhr.status !== 200) {
      throw new Error("terrmap: could not load " + url + " (HTTP " + xhr.status + ")");
    }
    var text = xhr.responseText;
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) {
      out[i] = text.charCodeAt(i) & 0xff;
    }
    return out.buffer;
  }

  /*
   * Send the component value now instead of waiting for streamlit-folium's
   * 250 ms debounce. Mirrors updateComponentValue() of streamlit-folium 0.27
   * (same keys, same order) so its own debounced call later sees no change.
   */
  T.flush = function (map) {
    var g = window.__GLOBAL_DATA__;
    var S = window.Streamlit;
    if (!g || !S || !S.setComponentValue) {
      return false;
    }
    var wrap = function (ll) {
      return ll && g.wrap_longitude ? map.wrapLatLng(ll) : ll;
    };
    var bounds = map.getBounds();
    var all = {
      last_clicked: wrap(g.lat_lng_clicked),
      last_object_clicked: wrap(g.last_object_clicked),
      last_object_clicked_count: g.last_object_clicked_count,
      last_object_clicked_tooltip: g.last_object_clicked_tooltip,
      last_object_clicked_popup: g.last_object_clicked_popup,
      all_drawings: g.all_drawings,
      last_active_drawing: g.last_active_drawing,
      last_geocoder_result: g.last_geocoder_result,
      bounds: g.wrap_longitude ? map.wrapLatLngBounds(bounds) : bounds,
      zoom: map.getZoom(),
      last_circle_radius: g.last_circle_radius,
      last_circle_polygon: g.last_circle_polygon,
      center: wrap(map.getCenter()),
      selected_layers: Object.values(g.selected_layers || {}),
      selected_tags: g.selected_tags,
    };
    var data = {};
    if (g.returned_objects) {
      Object.keys(all).forEach(function (k) {
        if (g.returned_objects.indexOf(k) !== -1) {
          data[k] = all[k];
        }
      });
    } else {
      data = all;
    }
    if (JSON.stringify(g.previous_data) !== JSON.stringify(data)) {
      g.previous_data = data;
      S.setComponentValue(data);
    }
    return true;
  };

  function legendControl() {
    var Legend = L.Control.extend({
      // Bottom left, above the scale: the accounts of the demo's north-east
      // corner (Boston) were under it at the bottom right.
      options: { position: "bottomleft" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "terrmap-legend leaflet-bar");
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        this._div = div;
        return div;
      },
      setItems: function (items, unassignedLabel, title) {
        var details = this._div.querySelector("details");
        if (details) {
          this._open = details.open;
        } else if (this._open === undefined) {
          // A small map starts with the legend folded: it would cover the territories.
          this._open = this._map ? this._map.getSize().y >= 560 : true;
        }
        var rows = items.map(function (it) {
          return (
            '<div class="terrmap-legend-row"><span class="terrmap-swatch" style="background:' +
            it.color +
            '"></span>' +
            it.html +
            "</div>"
          );
        });
        rows.push(
          '<div class="terrmap-legend-row"><span class="terrmap-swatch terrmap-hollow"></span>' +
            unassignedLabel +
            "</div>"
        );
        var height = this._map ? Math.max(80, Math.round(this._map.getSize().y * 0.45)) : 150;
        this._div.innerHTML =
          "<details" +
          (this._open ? " open" : "") +
          "><summary>" +
          (title || "Territories") +
          '</summary><div class="terrmap-legend-body" style="max-height:' +
          height +
          'px">' +
          rows.join("") +
          "</div></details>";
      },
    });
    return new Legend();
  }

  function homeLayer(homes) {
    var group = L.layerGroup();
    homes.forEach(function (h) {
      var mk = L.circleMarker([h.lat, h.lng], {
        radius: 6,
        color: "#111",
        weight: 2,
        fillColor: "#fff",
        fillOpacity: 1,
        pane: "markerPane",
        bubblingMouseEvents: false,
      });
      if (h.html) {
        mk.bindTooltip(h.html, { direction: "top" });
      }
      // The marker must stay interactive for its hover tooltip, but
      // streamlit-folium binds a click listener to every layer and a click on
      // a home base would rerun the app for nothing.
      mk.on = function (types, fn, context) {
        if (types === "click") {
          return this;
        }
        return L.CircleMarker.prototype.on.call(this, types, fn, context);
      };
      group.addLayer(mk);
    });
    return group;
  }

  /*
   * Hide territory labels that would overlap a label already shown, largest
   * territories first (the payload's order), at the current zoom.
   */
  function declutter(st) {
    var placed = [];
    st.labels.eachLayer(function (marker) {
      var el = marker.getElement();
      var span = el && el.firstChild;
      if (!span) {
        return;
      }
      span.style.visibility = "visible";
      var r = span.getBoundingClientRect();
      var pad = 3;
      var box = { l: r.left - pad, t: r.top - pad, r: r.right + pad, b: r.bottom + pad };
      var clash = placed.some(function (o) {
        return box.l < o.r && box.r > o.l && box.t < o.b && box.b > o.t;
      });
      if (clash) {
        span.style.visibility = "hidden";
      } else {
        placed.push(box);
      }
    });
  }
  T.declutter = declutter;

  function fullscreenControl(map) {
    var Full = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "leaflet-bar terrmap-fullscreen");
        var a = L.DomUtil.create("a", "", div);
        a.href = "#";
        a.setAttribute("role", "button");
        a.title = "Full screen";
        a.setAttribute("aria-label", "Full screen");
        // Four corners, drawn: the font may have no full-screen glyph.
        a.innerHTML =
          '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" ' +
          'style="vertical-align:-3px" fill="none" stroke="#333" stroke-width="2">' +
          '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5"/></svg>';
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.on(a, "click", function (e) {
          L.DomEvent.preventDefault(e);
          var doc = document;
          if (doc.fullscreenElement) {
            doc.exitFullscreen();
          } else if (doc.documentElement.requestFullscreen) {
            doc.documentElement.requestFullscreen();
          }
        });
        return div;
      },
    });
    document.addEventListener("fullscreenchange", function () {
      var on = !!document.fullscreenElement;
      document.documentElement.classList.toggle("terrmap-is-fullscreen", on);
      setTimeout(function () {
        map.invalidateSize();
      }, 50);
    });
    return new Full();
  }

  /*
   * The map lives in an iframe, so the page's keyboard shortcuts (undo, redo,
   * clear the selection) do not hear keys pressed while it has the focus:
   * pass them on to the page.
   */
  function forwardShortcuts() {
    document.addEventListener("keydown", function (e) {
      var mod = e.ctrlKey || e.metaKey;
      var undoRedo = mod && (e.key === "z" || e.key === "Z");
      if (!(undoRedo || e.key === "Escape")) {
        return;
      }
      var target;
      try {
        target = window.parent && window.parent !== window ? window.parent.document : null;
      } catch (err) {
        target = null; // another origin: nothing to forward to
      }
      if (!target) {
        return;
      }
      if (undoRedo) {
        e.preventDefault();
      }
      var init = {
        key: e.key,
        code: e.code,
        keyCode: e.keyCode,
        ctrlKey: e.ctrlKey,
        metaKey: e.metaKey,
        shiftKey: e.shiftKey,
        altKey: e.altKey,
        bubbles: true,
        cancelable: true,
      };
      var View = window.parent.KeyboardEvent || KeyboardEvent;
      (target.activeElement || target.body).dispatchEvent(new View("keydown", init));
      target.dispatchEvent(new View("keyup", init));
    });
  }

  function hoverTips(map, st, url) {
    var tips = null;
    var loading = false;
    var tip = L.tooltip({ direction: "top", offset: [0, -8], className: "terrmap-hover" });
    var shown = -1;
    var pending = null;
    function load() {
      if (loading || !url) {
        return;
      }
      loading = true;
      fetch(url)
        .then(function (r) {
          return r.json();
        })
        .then(function (lines) {
          tips = lines;
        })
        .catch(function () {
          tips = null;
        });
    }
    function hide() {
      if (shown >= 0) {
        map.closeTooltip(tip);
        shown = -1;
      }
    }
    function show(point) {
      if (toolActive) {
        hide();
        return;
      }
      var i = st.points.hit(point, 2);
      if (i < 0) {
        hide();
        return;
      }
      if (i === shown) {
        return;
      }
      load();
      if (!tips) {
        return;
      }
      var code = st.points._codes ? st.points._codes[i] : 0;
      var owner = code > 0 ? st.owners[code - 1] || "" : st.unassignedLabel;
      tip.setLatLng([st.points.latAt(i), st.points.lonAt(i)]);
      tip.setContent((tips[i] || "") + (owner ? "<br>" + owner : ""));
      if (shown < 0) {
        tip.addTo(map);
      }
      shown = i;
      map.getContainer().setAttribute("data-terrmap-hover", String(i));
    }
    map.on("mousemove", function (e) {
      if (pending === null) {
        pending = e.containerPoint;
        requestAnimationFrame(function () {
          var p = pending;
          pending = null;
          show(p);
        });
      } else {
        pending = e.containerPoint;
      }
    });
    map.on("mouseout zoomstart", hide);
    load();
  }

  T.init = function (map, cfg) {
    T.map = map;
    var pane = map.createPane("terrmapPoints");
    pane.style.zIndex = 450;
    pane.style.pointerEvents = "none";
    var n = cfg.n;
    var coords = new Float32Array(cfg.points_url ? fetchBytes(cfg.points_url) : b64Bytes(cfg.points).buffer);
    if (coords.length !== 2 * n) {
      throw new Error("terrmap: expected " + 2 * n + " coordinates, got " + coords.length);
    }
    var lon = coords.subarray(0, n);
    var lat = coords.subarray(n, 2 * n);
    var units = null;
    if (cfg.units_url) {
      // Under the territory outlines (overlay pane, 400) and the points (450).
      map.createPane("terrmapUnits").style.zIndex = 350;
      map.getPane("terrmapUnits").style.pointerEvents = "none";
      units = new window.TerrmapUnits().addTo(map);
      units.load(cfg.units_url);
    }
    var st = (map.terrmap = {
      units: units,
      flags: L.layerGroup().addTo(map),
      selectUnits: false,
      points: new window.TerrmapPoints(lon, lat, { unassignedColor: cfg.unassigned_color }).addTo(map),
      shapes: L.layerGroup().addTo(map),
      labels: L.layerGroup().addTo(map),
      selection: L.featureGroup().addTo(map),
      callouts: L.layerGroup().addTo(map),
      legend: legendControl().addTo(map),
      unassignedLabel: cfg.unassigned_html,
      owners: [],
      focusId: null,
    });
    fullscreenControl(map).addTo(map);
    forwardShortcuts();
    hoverTips(map, st, cfg.tips_url);
    map.on("zoomend moveend resize", function () {
      declutter(st);
    });
    st.legend.setItems([], cfg.unassigned_html);
    if (cfg.homes && cfg.homes.length) {
      homeLayer(cfg.homes).addTo(map);
    }

    if (cfg.tools) {
      var shape = { color: "#111", weight: 2, dashArray: "6 4", fillOpacity: 0.05 };
      map.addControl(
        new L.Control.Draw({
          position: "topleft",
          draw: {
            polyline: false,
            circle: false,
            marker: false,
            circlemarker: false,
            rectangle: { shapeOptions: shape },
            polygon: { shapeOptions: shape, allowIntersection: true, showArea: false },
          },
          edit: false,
        })
      );
      L.control
        .lasso({ position: "topleft", title: "Lasso (freehand) selection", intersect: true })
        .addTo(map);
      map.on("draw:drawstart lasso.enabled", function () {
        toolActive = true;
      });
      map.on("draw:drawstop lasso.disabled", function () {
        toolActive = false;
        toolBusyUntil = Date.now() + 400;
      });
      map.on("lasso.finished", function (e) {
        if (!e.latLngs || e.latLngs.length < 3) {
          return;
        }
        map.fire("draw:created", {
          layer: L.polygon(e.latLngs),
          layerType: "polygon",
          terrmapTool: "lasso",
        });
      });
      // Registered before streamlit-folium's own handler, so the tag is in
      // place when it serialises the layer with toGeoJSON().
      map.on("draw:created", function (e) {
        var layer = e.layer;
        // A click inside the last selection must reach the points, not the shape.
        layer.options.interactive = false;
        layer.feature = {
          type: "Feature",
          properties: { terrmap_event: eventId(), terrmap_tool: e.terrmapTool || e.layerType },
        };
        if (layer.setStyle) {
          layer.setStyle(shape);
        }
        st.selection.clearLayers();
        st.selection.addLayer(layer);
        Promise.resolve().then(function () {
          T.flush(map);
        });
      });
    }

    map.on("click", function (e) {
      if (toolActive || Date.now() < toolBusyUntil) {
        return;
      }
      if (st.selectUnits) {
        // Places: the unit under the click, wherever it is (index -1: no account).
        st.selection.clearLayers();
        st.points.fire("click", {
          latlng: { lat: e.latlng.lat, lng: e.latlng.lng, terrmap_event: eventId(), terrmap_index: -1 },
          originalEvent: e.originalEvent,
        });
        T.flush(map);
        return;
      }
      var i = st.points.hit(e.containerPoint, 3);
      if (i < 0) {
        return;
      }
      st.selection.clearLayers();
      st.points.fire("click", {
        latlng: {
          lat: st.points.latAt(i),
          lng: st.points.lonAt(i),
          terrmap_event: eventId(),
          terrmap_index: i,
        },
        originalEvent: e.originalEvent,
      });
      T.flush(map);
    });
  };

  // Replace a group's markers by text boxes (rows of lat, lng and escaped html).
  function textMarkers(group, rows, className) {
    group.clearLayers();
    (rows || []).forEach(function (row) {
      L.marker([row.lat, row.lng], {
        icon: L.divIcon({ className: className, html: "<span>" + row.html + "</span>", iconSize: null }),
        interactive: false,
        keyboard: false,
      }).addTo(group);
    });
  }

  T.update = function (p) {
    var map = T.map;
    if (!map || !map.terrmap) {
      return;
    }
    var st = map.terrmap;
    var t0 = performance.now();
    var codes = null;
    if (p.codes) {
      var bytes = b64Bytes(p.codes);
      codes = p.code_bytes === 2 ? new Uint16Array(bytes.buffer) : bytes;
    }
    var selected = p.selected ? b64Bytes(p.selected) : null;
    // Emphasis first without painting: setStyle paints once with everything.
    st.points._dimmed = p.dimmed ? b64Bytes(p.dimmed) : null;
    st.points._sizes = p.sizes ? b64Bytes(p.sizes) : null;
    st.points._rings = p.rings ? b64Bytes(p.rings) : null;
    st.points.setStyle(codes, p.colors, selected);
    st.owners = p.owners || [];
    st.selectUnits = !!p.select_units;
    map.getContainer().setAttribute("data-terrmap-select", st.selectUnits ? "units" : "accounts");
    if (st.units) {
      var unitCodes = null;
      if (p.units) {
        var ub = b64Bytes(p.units);
        unitCodes = p.code_bytes === 2 ? new Uint16Array(ub.buffer) : ub;
      }
      st.units.setStyle(unitCodes, p.colors, p.unit_selected ? b64Bytes(p.unit_selected) : null);
    }
    textMarkers(st.flags, p.flags, "terrmap-flag");

    st.shapes.clearLayers();
    if (p.shapes) {
      L.geoJSON(p.shapes, {
        interactive: false,
        style: function (f) {
          return {
            color: f.properties.color,
            weight: 2,
            opacity: 0.9,
            fillColor: f.properties.color,
            // Units carry the fill when they are drawn.
            fillOpacity: p.units ? 0 : 0.06,
          };
        },
      }).addTo(st.shapes);
    }
    textMarkers(st.labels, p.labels, "terrmap-label");
    st.callouts.clearLayers();
    // Accounts at one spot (a shared ZIP centroid) get one callout, not a stack.
    var spots = {};
    (p.callouts || []).forEach(function (c) {
      if (c.i < 0 || c.i >= st.points._n) {
        return;
      }
      var lat = st.points.latAt(c.i);
      var lng = st.points.lonAt(c.i);
      var key = lat + "," + lng;
      if (!spots[key]) {
        spots[key] = { lat: lat, lng: lng, lines: [] };
      }
      spots[key].lines.push(c.html);
    });
    Object.keys(spots).forEach(function (key) {
      var s = spots[key];
      L.tooltip({ permanent: true, direction: "top", offset: [0, -6], className: "terrmap-callout" })
        .setLatLng([s.lat, s.lng])
        .setContent(s.lines.join("<br>"))
        .addTo(st.callouts);
    });
    if (p.clear_selection) {
      st.selection.clearLayers();
    }
    st.legend.setItems(p.legend || [], st.unassignedLabel, p.legend_title);
    declutter(st);
    if (p.focus && p.focus.id !== st.focusId) {
      st.focusId = p.focus.id;
      var at = [st.points.latAt(p.focus.i), st.points.lonAt(p.focus.i)];
      map.setView(at, Math.max(map.getZoom(), p.focus.zoom), { animate: false });
    }
    T.lastUpdate = { token: p.token, ms: performance.now() - t0, at: performance.now() };
    document.documentElement.setAttribute("data-terrmap-update", String(p.token));
  };
})();
