// Starts Swagger UI with the settings /docs writes on its container (`data-config`, JSON):
// a script file, not an inline one, so the page's Content-Security-Policy runs scripts from
// 'self' only, whatever stage prefix or OAuth2 redirect URL the settings hold.
"use strict";
(function () {
  var container = document.getElementById("swagger-ui");
  var config = JSON.parse(container.getAttribute("data-config"));
  config.presets = [SwaggerUIBundle.presets.apis];
  window.ui = SwaggerUIBundle(config);
})();
