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
      options: { position: "bottomright" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "terrmap-legend leaflet-bar");
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        this._div = div;
        return div;
      },
      setItems: function (items, unassignedLabel) {
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
        this._div.innerHTML =
          '<details open><summary>Territories</summary><div class="terrmap-legend-body">' +
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
    var st = (map.terrmap = {
      points: new window.TerrmapPoints(lon, lat, { unassignedColor: cfg.unassigned_color }).addTo(map),
      shapes: L.layerGroup().addTo(map),
      labels: L.layerGroup().addTo(map),
      selection: L.featureGroup().addTo(map),
      callouts: L.layerGroup().addTo(map),
      legend: legendControl().addTo(map),
      unassignedLabel: cfg.unassigned_html,
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
    st.points.setStyle(codes, p.colors, selected);

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
            fillOpacity: 0.06,
          };
        },
      }).addTo(st.shapes);
    }
    st.labels.clearLayers();
    (p.labels || []).forEach(function (lb) {
      L.marker([lb.lat, lb.lng], {
        icon: L.divIcon({ className: "terrmap-label", html: "<span>" + lb.html + "</span>", iconSize: null }),
        interactive: false,
        keyboard: false,
      }).addTo(st.labels);
    });
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
    st.legend.setItems(p.legend || [], st.unassignedLabel);
    T.lastUpdate = { token: p.token, ms: performance.now() - t0, at: performance.now() };
    document.documentElement.setAttribute("data-terrmap-update", String(p.token));
  };
})();
