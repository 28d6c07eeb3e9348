// The desk's login form: posts JSON with the desk header; the server sets the session cookie.
"use strict";

const form = document.getElementById("login");
const message = document.getElementById("message");

if (new URLSearchParams(window.location.search).get("ended")) {
  message.textContent = "Your session has ended: log in again.";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = form.elements.name.value.trim();
  const password = form.elements.password.value;
  if (!name || !password) {
    message.textContent = "Enter your name and your password.";
    return;
  }
  const button = document.getElementById("login-button");
  button.disabled = true;
  message.textContent = "";
  try {
    const response = await fetch("/review/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-understudy-desk": "1", "Content-Type": "application/json" },
      body: JSON.stringify({ name: name, password: password }),
    });
    if (response.ok) {
      window.location.assign("/review");
      return;
    }
    let text = `The server answered ${response.status}.`;
    try {
      const body = await response.json();
      text = (body.error && body.error.message) || text;
    } catch (e) {
      // not JSON: keep the status line
    }
    message.textContent = text.charAt(0).toUpperCase() + text.slice(1) + ".";
    form.elements.password.select();
  } catch (err) {
    message.textContent = "Could not reach the server: is it still running?";
  } finally {
    button.disabled = false;
  }
});
