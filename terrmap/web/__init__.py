"""The only code that knows Leaflet and streamlit-folium: map building, browser assets, map-editor helpers."""
