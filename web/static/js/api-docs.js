// The API documentation page (/api/v1/docs): Swagger UI, vendored under vendor/swagger-ui, reading the
// OpenAPI document named by the page. A file of its own because the CSP allows scripts only from 'self'.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,  // the public validator is another site: never called
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
}());
