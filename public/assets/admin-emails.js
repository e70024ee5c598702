// /admin/emails: the emails the shop sent or is sending (locally: its inbox). One email shows its
// headers, its text and its HTML; the HTML is built from buyer input, so it is shown only inside a
// sandboxed frame whose page the shop serves under its own strict policy (no script runs there).
import { api, choice, field, nav, outcome, scrollTable, TOKEN_KEY, when } from "./admin-api.js";
import { app, el } from "./ui.js";

const STATUSES = [
  ["", "any"],
  ["queued", "queued"],
  ["sending", "sending"],
  ["sent", "sent"],
  ["dead", "dead (given up)"],
];

export async function emailsScreen() {
  const params = new URLSearchParams(location.search);
  const form = el(
    "form",
    {
      class: "filters",
      onsubmit: (event) => {
        event.preventDefault();
        const chosen = new URLSearchParams();
        for (const [name, value] of new FormData(event.target))
          if (String(value).trim()) chosen.set(name, value);
        history.pushState(null, "", `/admin/emails${chosen.size ? `?${chosen}` : ""}`);
        emailsScreen();
      },
    },
    field("To", { name: "to", type: "search", value: params.get("to") ?? "", "data-testid": "emails-to" }),
    field("Order id", { name: "orderId", value: params.get("orderId") ?? "" }),
    choice("Status", "status", STATUSES, params.get("status") ?? ""),
    el("button", { type: "submit", class: "primary" }, "Show"),
  );
  const result = outcome("emails-outcome");
  const list = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  app.replaceChildren(nav(), el("h1", {}, "Emails"), form, result, list);
  const query = new URLSearchParams({ limit: "100" });
  for (const name of ["to", "orderId", "status"]) if (params.get(name)) query.set(name, params.get(name));
  try {
    const { items } = await api("GET", `/v1/admin/emails?${query}`);
    list.replaceChildren(
      items.length === 0
        ? el("p", { class: "muted" }, "No email.")
        : scrollTable(
            `${items.length} email${items.length === 1 ? "" : "s"}, newest first`,
            ["subject", "to", "event", "order", "status", "sent"],
            items.map((mail) => [
              el(
                "a",
                {
                  href: `/admin/emails/${encodeURIComponent(mail.id)}?orderId=${encodeURIComponent(mail.orderId)}`,
                  "data-testid": "email-link",
                },
                mail.subject,
              ),
              mail.to,
              mail.event,
              el("a", { href: `/admin/orders/${encodeURIComponent(mail.orderId)}` }, mail.orderId),
              mail.status,
              when(mail.sentAt),
            ]),
            "emails-table",
          ),
    );
  } catch (error) {
    list.replaceChildren();
    result.fail(error);
  }
}

/**
 * The email's HTML in a sandboxed frame: the frame is the target of a form posting the admin token
 * to the shop's preview page, which answers the stored HTML under `sandbox` and a policy that
 * allows no script (the token travels in the body, never in a URL).
 */
function htmlFrame(mail) {
  const name = `preview-${crypto.randomUUID()}`;
  const frame = el("iframe", {
    name,
    title: `The email "${mail.subject}" as HTML`,
    sandbox: "",
    referrerpolicy: "no-referrer",
    class: "email-frame",
    "data-testid": "email-html",
  });
  const post = el(
    "form",
    {
      method: "post",
      action: `/admin/emails/${encodeURIComponent(mail.id)}/preview`,
      target: name,
      hidden: true,
    },
    el("input", { type: "hidden", name: "token", value: sessionStorage.getItem(TOKEN_KEY) ?? "" }),
    el("input", { type: "hidden", name: "orderId", value: mail.orderId }),
  );
  queueMicrotask(() => post.submit());
  return [frame, post];
}

export async function emailScreen(id) {
  const result = outcome("email-outcome");
  app.replaceChildren(nav(), el("h1", {}, "Email"), result);
  const orderId = new URLSearchParams(location.search).get("orderId");
  let mail;
  try {
    const query = new URLSearchParams({ limit: "200", ...(orderId ? { orderId } : {}) });
    mail = (await api("GET", `/v1/admin/emails?${query}`)).items.find((item) => item.id === id);
  } catch (error) {
    result.fail(error);
    return;
  }
  if (!mail) return result.show("No such email (it may be older than the 200 newest).", "error");
  const redeliver =
    mail.status === "dead"
      ? el(
          "button",
          {
            type: "button",
            "data-testid": "email-redeliver",
            onclick: async (event) => {
              event.target.disabled = true;
              try {
                const answer = await api("POST", `/v1/admin/emails/${encodeURIComponent(mail.id)}/redeliver`);
                result.show(
                  answer.queued ? "Queued to be sent again." : "It is no longer dead: sent or on its way.",
                );
              } catch (error) {
                result.fail(error);
                event.target.disabled = false;
              }
            },
          },
          "Send again",
        )
      : null;
  app.replaceChildren(
    nav(),
    el("h1", {}, mail.subject),
    el(
      "dl",
      { class: "facts", "data-testid": "email-headers" },
      [
        ["From", mail.from],
        ["To", mail.to],
        ["Subject", mail.subject],
        ["Message-ID", mail.messageId],
        ["Event", mail.event],
        ["Order", el("a", { href: `/admin/orders/${encodeURIComponent(mail.orderId)}` }, mail.orderId)],
        ["Status", `${mail.status} · ${mail.attempts} attempt${mail.attempts === 1 ? "" : "s"}`],
        ["Sent", when(mail.sentAt) || "not yet"],
        mail.lastError ? ["Last error", mail.lastError] : null,
      ]
        .filter(Boolean)
        .flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
    ),
    redeliver,
    result,
    el("h2", {}, "HTML"),
    ...htmlFrame(mail),
    el("h2", {}, "Text"),
    el("pre", { class: "email-text", "data-testid": "email-text" }, mail.text),
  );
}
