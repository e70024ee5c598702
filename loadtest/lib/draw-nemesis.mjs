// The draw under a nemesis (`npm run loadtest -- draw --kill`): the runtime is killed outright
// (SIGKILL) and restarted on the same state at four points of a draw's life, each found by watching
// the draw rather than by the clock, so each lands where it is meant to on a slow machine as on a fast
// one:
// - `entering`: while entrants enter, once about two fifths of the expected entries are in (requests
//   cut off are retried under their Idempotency-Key, as a storefront does);
// - `close`: as the books freeze and the list is gathered (the first phase after `open`);
// - `walk`: while winners are charged, once some are (the gateway first loses every capture's answer
//   for a few seconds, so captures made but not answered meet the kill);
// - `sweep`: after the draw, while the losers' holds are still being cancelled.
// The draw must then finish by itself: the audit in draw-audit.mjs checks that nobody was charged twice
// or skipped, every other hold was released and the stock conserved.

import { isOurs, simulatorHolds } from "./draw-audit.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Seconds the gateway loses the answers of captures when the walk is first seen. */
const LOSE_SECONDS = 3;

/** The draw's admin status, or null while the runtime cannot answer (it may be restarting). */
async function statusOf(api, productId) {
  return api.call("GET", `/v1/admin/products/${productId}/draw`).catch(() => null);
}

/** How many of the draw under test's holds are live at the simulator, or null when unreadable. */
async function liveHolds(api) {
  try {
    return (await simulatorHolds(api, "authorized")).filter(isOurs).length;
  } catch {
    return null;
  }
}

/**
 * Plays the four kills against the draw as it runs; answers one record per kill: where it was meant
 * to land, whether it did (`landed`), what the draw showed just before it (phase, entries in the
 * books, winners charged) and how long the restart took. A kill whose moment passed before it was
 * seen is recorded as not landed, and the run fails on it (the point is to prove the resumption).
 */
export async function killThroughDraw({ api, local, draw, expectedEntries, log }) {
  const kills = [];
  async function kill(at, status, extra = {}) {
    const began = Date.now();
    const seen = {
      phase: status?.phase ?? null,
      enteredInBooks: status?.books?.entered ?? null,
      won: status?.won ?? null,
      passedOn: status?.passedOn ?? null,
    };
    log(
      `nemesis (${at}): killing the runtime (phase ${seen.phase}, entered ${seen.enteredInBooks}, won ${seen.won})`,
    );
    await local.crash();
    const restartSeconds = Number(((Date.now() - began) / 1000).toFixed(1));
    log(`nemesis (${at}): the runtime is back on the same state after ${restartSeconds} s`);
    kills.push({ at, landed: true, atMs: began, ...seen, ...extra, restartSeconds });
  }
  const missed = (at, why) => {
    log(`nemesis (${at}): MISSED, ${why}`);
    kills.push({ at, landed: false, why });
  };

  // While entrants enter: once two fifths of the expected entries are in, or 8 s before the close.
  for (;;) {
    const status = await statusOf(api, draw.productId);
    const entered = status?.books?.entered ?? 0;
    if (entered >= expectedEntries * 0.4 || Date.now() >= draw.closesAt - 8000) {
      if (Date.now() < draw.closesAt - 3000) await kill("entering", status);
      else missed("entering", "the close came first");
      break;
    }
    await sleep(500);
  }

  // At the close: the first phase after `open`, looked for every 100 ms.
  await sleep(draw.closesAt - Date.now());
  for (;;) {
    const status = await statusOf(api, draw.productId);
    if (status && status.phase !== "open") {
      if (status.phase === "drawn") missed("close", "the draw was drawn before the close was seen");
      else await kill("close", status);
      break;
    }
    await sleep(100);
  }

  // In the walk: once a winner is charged. The gateway loses answers for a few seconds first.
  let losing = false;
  for (;;) {
    const status = await statusOf(api, draw.productId);
    if (status?.phase === "drawing" && !losing) {
      losing = true;
      await api
        .call("PUT", "/v1/admin/faults", { gateway: { mode: "lose", seconds: LOSE_SECONDS } })
        .catch((error) => log(`nemesis (walk): the gateway fault was not injected (${error.message})`));
      log(`nemesis (walk): the gateway loses every answer for ${LOSE_SECONDS} s`);
    }
    if (status?.phase === "drawing" && status.won > 0) {
      await kill("walk", status, { gatewayLost: losing });
      break;
    }
    if (status?.phase === "drawn" || status?.phase === "cancelled") {
      missed("walk", `the draw was ${status.phase} before a winner was seen charged`);
      break;
    }
    await sleep(100);
  }

  // In the sweep: once drawn, while holds of losers are still live.
  for (;;) {
    const status = await statusOf(api, draw.productId);
    if (status?.phase === "drawn" || status?.phase === "cancelled") {
      const live = await liveHolds(api);
      if (live === null) {
        await sleep(200);
        continue;
      }
      if (live > 0) await kill("sweep", status, { liveHolds: live });
      else missed("sweep", "every hold was released before the sweep was seen");
      break;
    }
    await sleep(200);
  }
  return kills;
}

export function killsLine(kills) {
  return kills
    .map((kill) =>
      kill.landed
        ? `${kill.at}: killed in ${kill.phase} (entered ${kill.enteredInBooks}, won ${kill.won}${kill.liveHolds ? `, ${kill.liveHolds} holds live` : ""}), back in ${kill.restartSeconds} s`
        : `${kill.at}: missed (${kill.why})`,
    )
    .join("; ");
}
