// What every storefront page shares: its DOM helpers, the notice line, and the cart in localStorage.
import { formatMoney } from "./money.js";

export const app = document.getElementById("app");
export const notice = document.getElementById("notice");
export const ORDERS_KEY = "stampede.orders";
/** Where the 3-D Secure challenge of a draw entry's authorization returns to, by the challenge's id. */
export const CHALLENGE_RETURN_KEY = "stampede.challengeReturn";
const CART_KEY = "stampede.cart";

export const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === undefined || value === null) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    // Through the CSSOM: the Content-Security-Policy refuses inline style attributes.
    else if (name === "style") node.style.cssText = String(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return node;
};

export const money = formatMoney;

export function say(message, tone = "info") {
  notice.textContent = message;
  notice.dataset.tone = tone;
  notice.hidden = !message;
}

export function render(...nodes) {
  app.replaceChildren(...nodes.filter((node) => node !== null && node !== undefined));
}

export const readJson = (key, fallback) => {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
};

export const cart = {
  lines: () => readJson(CART_KEY, []),
  save(lines) {
    localStorage.setItem(CART_KEY, JSON.stringify(lines));
    document.getElementById("cart-count").textContent = String(
      lines.reduce((n, line) => n + line.quantity, 0),
    );
  },
  add(line) {
    const lines = cart.lines();
    const existing = lines.find((entry) => entry.sku === line.sku);
    if (existing) existing.quantity = Math.min(existing.quantity + 1, 10);
    else lines.push({ ...line, quantity: 1 });
    cart.save(lines);
  },
};

export async function getJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw Object.assign(new Error(`${response.status}`), { status: response.status });
  return response.json();
}
