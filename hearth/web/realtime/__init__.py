"""The Realtime demo page: ``index.html``, ``app.js``, ``mic-worklet.js``."""
