// The API docs: ask for the key, fetch /openapi.json with it, then hand both to Swagger UI (served by this
// server from the installed package). The key stays in this page's memory: nothing is stored in the browser.
"use strict";

const form = document.getElementById("key-form");
const message = document.getElementById("message");

async function errorText(response) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || `the server answered ${response.status}`;
  } catch (e) {
    return `the server answered ${response.status}`;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = form.elements.key.value.trim();
  if (!key) {
    message.textContent = "Enter an API key.";
    return;
  }
  const button = document.getElementById("key-button");
  button.disabled = true;
  try {
    const response = await fetch("/openapi.json", {
      headers: { Authorization: `Bearer ${key}` },
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) {
      const text = await errorText(response);
      message.textContent = text.charAt(0).toUpperCase() + text.slice(1) + ".";
      return;
    }
    const spec = await response.json();
    window.ui = SwaggerUIBundle({
      spec: spec,
      dom_id: "#swagger-ui",
      deepLinking: false,
      validatorUrl: null,
      persistAuthorization: false,
      presets: [SwaggerUIBundle.presets.apis],
      onComplete: () => {
        // The key given above is the one "Try it out" sends; Authorize changes it.
        window.ui.preauthorizeApiKey("bearer", key);
        document.body.dataset.ready = "1";
      },
    });
    form.elements.key.value = "";
    form.hidden = true;
    message.textContent = "Key accepted: \"Try it out\" sends it. Authorize changes it.";
  } catch (e) {
    message.textContent = `Could not reach the server: ${e.message}.`;
  } finally {
    button.disabled = false;
  }
});
