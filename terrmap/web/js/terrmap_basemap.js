/*
 * TerrmapBasemap: the offline background of the map, faint grey outlines of
 * countries, coasts, US states and (zoomed in) US counties.
 *
 * TerrmapBasemap.add(map, url) fetches the GeoJSON file the app serves
 * (terrmap.web.basemap.publish_basemap: one MultiLineString feature per
 * "kind") and draws it in its own pane, above tiles and below territories and
 * points. Nothing in it is interactive and the pane lets every pointer event
 * through, so the selection tools and point clicks work as without it.
 *
 * When the lines are drawn, <html data-terrmap-basemap="ready"> is set (or
 * "failed"), for tests.
 */
(function () {
  "use strict";
  if (window.TerrmapBasemap) {
    return;
  }

  var STYLES = {
    country: { color: "#8f8f8f", weight: 1.2, opacity: 1 },
    coast: { color: "#9aa6ad", weight: 1, opacity: 1 },
    state: { color: "#8f8f8f", weight: 1.2, opacity: 1 },
    county: { color: "#c9c9c9", weight: 0.7, opacity: 1 },
  };
  // County lines from this zoom on: further out they merge into a grey mesh.
  var COUNTY_MIN_ZOOM = 7;
  var PANE = "terrmapBasemap";

  function mark(state) {
    document.documentElement.setAttribute("data-terrmap-basemap", state);
  }

  function add(map, url) {
    if (!url) {
      return null;
    }
    var pane = map.getPane(PANE) || map.createPane(PANE);
    // Leaflet's tiles are at 200, overlays (territories) at 400.
    pane.style.zIndex = 250;
    pane.style.pointerEvents = "none";
    var renderer = L.svg({ pane: PANE, padding: 0.5 });
    var st = (map.terrmapBasemap = {
      url: url,
      parts: {},
      main: L.featureGroup().addTo(map),
      county: null,
      countyMinZoom: COUNTY_MIN_ZOOM,
    });

    function syncCounties() {
      if (!st.county) {
        return;
      }
      var show = map.getZoom() >= COUNTY_MIN_ZOOM;
      if (show && !map.hasLayer(st.county)) {
        st.county.addTo(map);
        // Under the state lines it meets at state borders.
        st.county.bringToBack();
      } else if (!show && map.hasLayer(st.county)) {
        map.removeLayer(st.county);
      }
    }

    fetch(url)
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (collection) {
        (collection.features || []).forEach(function (feature) {
          var kind = feature.properties && feature.properties.kind;
          var layer = L.geoJSON(feature, {
            pane: PANE,
            renderer: renderer,
            interactive: false,
            bubblingMouseEvents: false,
            style: STYLES[kind] || STYLES.country,
          });
          st.parts[kind] = feature.geometry.coordinates.length;
          if (kind === "county") {
            st.county = layer;
          } else {
            layer.addTo(st.main);
          }
        });
        syncCounties();
        map.on("zoomend", syncCounties);
        mark("ready");
      })
      .catch(function (error) {
        // The map stays usable without its background.
        console.warn("terrmap: no base map from " + url + ": " + error);
        mark("failed");
      });
    return st;
  }

  window.TerrmapBasemap = { add: add, STYLES: STYLES, COUNTY_MIN_ZOOM: COUNTY_MIN_ZOOM };
})();
