// Fault for the load-test harness's tests (`node --import`): a promise nobody awaits rejects with a
// reset connection REJECT_AFTER_MS (default 1000) into the run, as a forgotten request's would.
setTimeout(
  () => {
    Promise.reject(Object.assign(new Error("injected: socket hang up"), { code: "ECONNRESET" }));
  },
  Number(process.env.REJECT_AFTER_MS ?? 1000),
).unref();
