// A stand-in for Cloudflare Turnstile's api.js in the browser tests, served in its place through
// page.route. Its widgets hold no token until the test solves them (`fakeTurnstile.solve(token)`),
// so a test decides when the check is done, and with a token the local siteverify fake
// (test/fakes/turnstile.mjs) accepts ("pass…") or refuses (anything else).
(() => {
  const widgets = new Map();
  let rendered = 0;
  const widgetOf = (target) => {
    if (typeof target === "string") return widgets.get(target);
    const all = [...widgets.values()];
    return target ? all.find((widget) => widget.container === target) : all.at(-1);
  };
  const show = (widget, text) => {
    widget.box.textContent = text;
  };

  window.fakeTurnstile = {
    sitekeys: [],
    resets: 0,
    /** Completes every pending widget's check with this token, as Turnstile calls back. */
    solve(token) {
      for (const widget of widgets.values()) {
        if (widget.token) continue;
        widget.token = token;
        show(widget, "Success!");
        widget.params.callback?.(token);
      }
    },
  };

  window.turnstile = {
    render(container, params) {
      const id = `fake-widget-${++rendered}`;
      const box = document.createElement("div");
      box.dataset.testid = "turnstile-fake";
      container.append(box);
      const widget = { id, container, params, box, token: "" };
      widgets.set(id, widget);
      show(widget, "Verifying you are human…");
      window.fakeTurnstile.sitekeys.push(params.sitekey);
      return id;
    },
    reset(target) {
      const widget = widgetOf(target);
      if (!widget) return;
      widget.token = "";
      show(widget, "Verifying you are human…");
      window.fakeTurnstile.resets += 1;
    },
    remove(target) {
      const widget = widgetOf(target);
      if (!widget) return;
      widget.box.remove();
      widgets.delete(widget.id);
    },
    getResponse: (target) => widgetOf(target)?.token || undefined,
  };
})();
