#!/usr/bin/env node
// `npm run loadtest -- <scenario> [--target URL] [--admin-token TOKEN] [--step-seconds N]`
// `npm run loadtest -- chaos [--seed N] [--short]`: the sale under a seeded nemesis (docs/chaos.md).
// `npm run loadtest -- draw [--entrants N]`: a product sold by draw, entered by N entrants, drawn, audited.
// `npm run loadtest -- draw --kill [--entrants N]`: the same with the runtime killed at four points of it.
// Starts Stampede on a local workerd harness (fresh state, seeded catalog) unless --target names a
// running deployment; finds the knee with an open-model step ramp (or runs the scenario's fixed
// phases, or its crash); drains; audits; writes a report under loadtest/reports/. Exits 1 when the
// audit fails, 3 when the run was invalid, 4 when the harness itself failed (a runtime that did not
// start or exited, a port in use, the target refusing or resetting the harness's own requests): then
// it says what failed, at which stage and why (with the error's cause codes), and still writes the
// report with what was measured so far. It never ends on an uncaught error.
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FLASH_SALE } from "../scripts/demo-catalog.mjs";
import { seedIfEmpty } from "../scripts/seed.mjs";
import { adminClient } from "./lib/api.mjs";
import { runPhase } from "./lib/artillery.mjs";
import { audit, auditLine, baseline, drain } from "./lib/audit.mjs";
import {
  auditChaos,
  buyersStep,
  chaosAuditLine,
  playNemesis,
  runBuyers,
  setUpLimited,
} from "./lib/chaos.mjs";
import { workerdPids } from "./lib/cpu.mjs";
import { prepareDraw, runDraw } from "./lib/draw.mjs";
import { auditDraw, drawAuditLine, missedTheClose, settleDraw } from "./lib/draw-audit.mjs";
import { killsLine, killThroughDraw } from "./lib/draw-nemesis.mjs";
import { drive } from "./lib/drive.mjs";
import { auditDrop, calibrate, dropAuditLine, dropSteps, edgeOf, runCrowd, setUpDrop } from "./lib/drop.mjs";
import { auditRestock, restockAuditLine, runRestockCase, setUpRestockDrop } from "./lib/drop-restock.mjs";
import { describeError, errorCodes } from "./lib/failure.mjs";
import { bundle, startBare, startStampede } from "./lib/harness.mjs";
import { describeFault, nemesisSchedule, randomSeed } from "./lib/nemesis.mjs";
import { lockDatabases } from "./lib/outage.mjs";
import { auditPromo, promoAuditLine, runPromo, setUpPromo } from "./lib/promo.mjs";
import { writeReport } from "./lib/report.mjs";
import { spawnServer } from "./lib/server-process.mjs";
import { scenarios } from "./scenarios.mjs";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: "string" },
    "admin-token": { type: "string" },
    "step-seconds": { type: "string", default: "10" },
    seed: { type: "string" },
    short: { type: "boolean", default: false },
    entrants: { type: "string" },
    kill: { type: "boolean", default: false },
  },
});
const name =
  positionals[0] === "chaos" && values.short
    ? "chaos-short"
    : positionals[0] === "draw" && values.kill
      ? "draw-kill"
      : positionals[0];
const scenario = scenarios[name];
if (!scenario) {
  console.error(
    `usage: npm run loadtest -- <${Object.keys(scenarios).join("|")}> [--target URL] [--admin-token TOKEN]`,
  );
  process.exit(2);
}
const sale = scenario.crash ?? scenario.outage ?? scenario.chaos;
/** A scenario that kills or breaks the runtime it started, so it runs it in a process of its own. */
const breaksRuntime = Boolean(sale || scenario.draw?.kill);
const seed = values.seed === undefined ? randomSeed() : Number(values.seed);
if (scenario.chaos && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
  console.error(`--seed takes a whole number from 0 to 4294967295, not ${values.seed}`);
  process.exit(2);
}
if (breaksRuntime && values.target) {
  console.error(`the ${name} scenario breaks the runtime it started; it cannot run against --target`);
  process.exit(2);
}
const entrants = values.entrants === undefined ? undefined : Number(values.entrants);
if (entrants !== undefined && !(Number.isInteger(entrants) && entrants >= 100)) {
  console.error(`--entrants takes a whole number of at least 100, not ${values.entrants}`);
  process.exit(2);
}
const drawSettings = scenario.draw ? { ...scenario.draw, ...(entrants ? { entrants } : {}) } : null;
const stepSeconds = Number(values["step-seconds"]);
const adminToken = values["admin-token"] ?? process.env.ADMIN_TOKEN ?? "loadtest-admin-token";
const log = (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const startedAt = new Date();
const dropSettings = scenario?.drop ? { ...scenario.drop.crowd, units: scenario.drop.units } : null;
const workdir = mkdtempSync(join(tmpdir(), "stampede-loadtest-"));

// What the run is doing now, named in the failure message if it fails there.
let stage = "starting";
const steps = [];
let ceiling = null;
let local = null;
let bare = null;
let pids = [];
let target = values.target;
let failing = false;

/**
 * The end of a run the harness could not finish: what failed, where and why; the report with what
 * was measured so far; the runtime stopped; exit 4. Also the end of any error nothing else caught.
 */
async function fail(error, how = "") {
  if (failing) return;
  failing = true;
  const reason = describeError(error);
  const exited = local?.unexpectedExit?.();
  console.error(`load test FAILED while ${stage}${how}: ${reason}`);
  if (exited) console.error(`  the server: ${exited}`);
  if (process.env.LOADTEST_DEBUG && error?.stack) console.error(error.stack);
  try {
    const paths = writeReport({
      scenario: name ?? "unknown",
      target: target ?? null,
      ceiling,
      steps,
      kneeIndex: -1,
      invalid: null,
      audit: null,
      startedAt,
      failure: { stage, reason, codes: errorCodes(error), server: exited ?? null },
    });
    console.error(`report: ${paths.html} (data: ${paths.json})`);
  } catch (reportError) {
    console.error(`no report written: ${describeError(reportError)}`);
  }
  await stopLocal();
  process.exit(4);
}

/** Stops whatever runtime this run started (the bare worker too, if it fails while measuring). */
async function stopLocal() {
  const servers = [bare, local];
  bare = null;
  local = null;
  for (const server of servers) {
    try {
      await server?.stop();
    } catch (error) {
      console.error(`stopping the runtime failed: ${describeError(error)}`);
    }
  }
}

process.on("unhandledRejection", (error) => fail(error, " (an unhandled rejection)"));
process.on("uncaughtException", (error) => fail(error, " (an uncaught exception)"));

/** Stampede on this machine: in this process, or (for the crash) in a process group it can kill. */
async function startLocal() {
  const bindings = {
    ADMIN_TOKEN: adminToken,
    PAYMENT_RETRY_BASE_SECONDS: "0",
    PAYMENT_RETRY_MAX_DELAY_SECONDS: "1",
    ...scenario.bindings,
  };
  if (!breaksRuntime) {
    const server = await startStampede({ bindings });
    return { url: server.url, stop: () => server.stop() };
  }
  // On disk, in a process of its own, so it can be killed or have its D1 file locked. Short holds,
  // so the holds of checkouts the crash cut off (before their order was recorded) expire in the drain.
  // The first start takes the port the system gives it; the restart asks for that port again (the
  // load generator keeps its target), waiting while the killed runtime's socket lets go of it.
  const options = {
    script: bundle("src/index.ts", "stampede"),
    port: 0,
    persistTo: join(workdir, "state"),
    bindings: { HOLD_TTL_SECONDS: "15", ...bindings },
  };
  let server = spawnServer(options);
  const url = await server.ready;
  options.port = Number(new URL(url).port);
  // The restart finds the state migrated and must not make synchronous proxy calls under load.
  options.migrations = false;
  return {
    url,
    async crash() {
      await server.kill();
      server = spawnServer(options);
      await server.ready;
    },
    unexpectedExit: () => server.unexpectedExit(),
    /** Holds an exclusive lock on every D1 database file, so each D1 write fails, until released. */
    lockD1() {
      return lockDatabases(join(workdir, "state"));
    },
    stop: () => server.kill(),
  };
}

function logStep(step) {
  log(
    `${String(step.name).padEnd(12)} offered ${String(step.offered).padStart(5)}/s  ${String(step.achievedRps).padStart(6)} req/s  ` +
      `p50 ${step.p50Ms} p95 ${step.p95Ms} p99 ${step.p99Ms} ms  ok ${step.mix.ok} sold-out ${step.mix.soldOut} ` +
      `429 ${step.mix.rateLimited} 4xx ${step.mix.clientErrors} 5xx/net ${step.mix.serverErrors + step.mix.networkErrors}  ` +
      `generator ${step.generatorSaturated ? "SATURATED" : "ok"}`,
  );
}

let exitCode = 0;
try {
  if (!target) {
    // The nemesis scenarios measure promises kept, not throughput: they skip the ceiling (CI time).
    if (!scenario.chaos && !scenario.draw?.kill) {
      stage = "measuring the bare-worker ceiling";
      log("measuring the bare-worker ceiling of this harness...");
      bare = await startBare();
      ceiling = await drive({ url: bare.url, connections: 50, seconds: 5 });
      const measured = bare;
      bare = null;
      await measured.stop();
      log(`ceiling: ${ceiling.rps} requests/s (bare worker, same harness)`);
    }
    stage = "starting Stampede on the harness";
    local = await startLocal();
    pids = workerdPids(process.pid);
    target = local.url;
    stage = "seeding the catalog";
    await seedIfEmpty(target, adminToken, log);
  }
  stage = `setting up the ${name} scenario`;
  const api = adminClient(target, adminToken);
  const listed = await api.call("GET", "/v1/products?limit=100");
  const products = listed.items.map((p) => ({
    slug: p.slug,
    category: p.category,
    skus: p.variants.map((v) => v.sku),
  }));
  const catalogFile = join(workdir, "catalog.json");
  writeFileSync(catalogFile, JSON.stringify({ products }));
  const acceptedFile = join(workdir, "accepted.txt");
  writeFileSync(acceptedFile, "");
  if (sale) await api.call("PUT", `/v1/admin/inventory/${FLASH_SALE.sku}`, { onHand: sale.stock });
  if (scenario.stock)
    await api.call("PUT", `/v1/admin/inventory/${FLASH_SALE.sku}`, { onHand: scenario.stock });
  if (scenario.operator) {
    const { stock, buckets } = scenario.operator;
    await api.call("PUT", `/v1/admin/inventory/${FLASH_SALE.sku}`, { onHand: stock, buckets });
  }
  let limited = null;
  if (scenario.chaos) limited = await setUpLimited(api, scenario.chaos.limited);
  let drop = null;
  let calibration = null;
  if (scenario.drop) {
    log("measuring what joining a waiting room and asking one's place cost on this harness...");
    calibration = await calibrate(api, target, pids);
    const { joins, polls } = calibration;
    const vs = (rps) => (ceiling ? ` = ${(rps / ceiling.rps).toFixed(2)} of the ceiling` : "");
    log(
      `joins: ${joins.rps}/s${vs(joins.rps)} (p50 ${joins.p50Ms} ms, workerd CPU ${joins.cpuUsPer ?? "?"} µs each); ` +
        `status polls: ${polls.rps}/s${vs(polls.rps)} (p50 ${polls.p50Ms} ms, ${polls.cpuUsPer ?? "?"} µs each)`,
    );
    drop = await setUpDrop(api, scenario.drop);
  }
  const promo = scenario.promo ? await setUpPromo(api, scenario.promo) : null;
  const prepared = drawSettings ? await prepareDraw({ api, target, settings: drawSettings, log }) : null;
  const watched = [
    ...new Set([
      FLASH_SALE.sku,
      ...(drop ? [drop.sku] : []),
      ...(promo ? [promo.sku] : []),
      ...(limited ? [limited.sku] : []),
      ...(prepared ? prepared.draw.skus : []),
      ...products.flatMap((p) => p.skus),
    ]),
  ];
  const before = await baseline(api, watched);
  const env = { ...scenario.env, LOADTEST_CATALOG: catalogFile, LOADTEST_ACCEPTED_FILE: acceptedFile };
  log(`${name}: ${scenario.description}`);

  let crowdRun = null;
  let promoRun = null;
  let dropEdge = null;
  let chaosRun = null;
  let drawRun = null;
  let kneeIndex = -1;
  let invalid = null;
  if (scenario.chaos) {
    const { rate, seconds, faults, warmSeconds, quietSeconds, crowd } = scenario.chaos;
    const schedule = nemesisSchedule({
      seed,
      count: faults,
      startSeconds: warmSeconds,
      endSeconds: seconds - quietSeconds,
    });
    log(`seed ${seed} (replay: npm run loadtest -- ${name} --seed ${seed}); the nemesis will inject:`);
    for (const fault of schedule) log(`  ${describeFault(fault)}`);
    stage = "running the chaos phase";
    const loadBefore = loadavg()[0];
    const saleStartedAt = Date.now();
    const buying = runBuyers({
      target,
      seed,
      rate,
      seconds,
      flashSku: FLASH_SALE.sku,
      limited,
      crowd,
      log,
    });
    buying.catch(() => {}); // awaited below, after the nemesis; its failure is not lost meanwhile
    const nemesis = await playNemesis({ schedule, startedAt: saleStartedAt, local, api, log });
    log(
      `nemesis: the last fault ended ${((nemesis.lastFaultEndedAt - saleStartedAt) / 1000).toFixed(1)} s into the sale`,
    );
    const bought = await buying;
    writeFileSync(acceptedFile, bought.tally.accepted.map((entry) => entry.orderId).join("\n"));
    chaosRun = { schedule, nemesis, bought, load: { before: loadBefore, after: loadavg()[0] } };
    const step = buyersStep(bought, rate, seconds);
    steps.push(step);
    logStep(step);
    log(
      `buyers: ${bought.tally.buyers} arrived, ${bought.tally.accepted.length} accepted, refused ${JSON.stringify(bought.tally.refused)}, ` +
        `${bought.tally.retries} retries, ${bought.tally.networkErrors} network errors, ${bought.tally.gaveUp} gave up`,
    );
  } else if (scenario.crash) {
    const { rate, seconds, killAfterSeconds } = scenario.crash;
    stage = "running the crash phase";
    const running = runPhase({ target, flow: scenario.flow, rate, seconds, workdir, name: "crash", env });
    running.catch(() => {}); // awaited below, after the crash; its failure is not lost meanwhile
    await new Promise((resolve) => setTimeout(resolve, killAfterSeconds * 1000));
    const killedAt = Date.now();
    log(`killing the runtime outright (SIGKILL) ${killAfterSeconds} s into the sale...`);
    await local.crash();
    log(`restarted on the same state after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
    const step = { name: "crash", ...(await running) };
    steps.push(step);
    logStep(step);
  } else if (scenario.outage) {
    const { rate, seconds, afterSeconds, forSeconds } = scenario.outage;
    stage = "running the outage phase";
    const running = runPhase({ target, flow: scenario.flow, rate, seconds, workdir, name: "outage", env });
    running.catch(() => {}); // awaited below, after the outage
    await new Promise((resolve) => setTimeout(resolve, afterSeconds * 1000));
    log(`locking D1 for ${forSeconds} s (every D1 write now fails)...`);
    const release = local.lockD1();
    await new Promise((resolve) => setTimeout(resolve, forSeconds * 1000));
    const backlog = await api.call("GET", "/v1/admin/orders/summary").catch(() => null);
    release();
    log(`D1 is back; orders the shards had not yet written to D1: ${backlog?.intake.unprojected ?? "?"}`);
    const step = { name: "d1-outage", ...(await running) };
    steps.push(step);
    logStep(step);
  } else if (scenario.operator) {
    const { rate, seconds, actions } = scenario.operator;
    stage = "running the operator phase";
    const running = runPhase({ target, flow: scenario.flow, rate, seconds, workdir, name: "operator", env });
    running.catch(() => {}); // awaited below, after the operator's actions
    const started = Date.now();
    for (const action of actions) {
      await new Promise((resolve) => setTimeout(resolve, started + action.atSeconds * 1000 - Date.now()));
      const path = `/v1/admin/inventory/${FLASH_SALE.sku}/${action.path}`;
      const outcome = await api.call(action.method, path, action.body).then(
        (detail) =>
          `on hand ${detail.onHand}, available ${detail.available}, moving ${detail.conservation.inTransit}`,
        (error) => `failed: ${error.message}`,
      );
      log(`operator: ${action.label}: ${outcome}`);
    }
    const step = { name: "operator", ...(await running) };
    steps.push(step);
    logStep(step);
  } else if (scenario.drop) {
    stage = "running the drop's crowd";
    crowdRun = await runCrowd({ target, drop, crowd: scenario.drop.crowd, log, pids });
    writeFileSync(acceptedFile, crowdRun.records.flatMap((record) => record.orders).join("\n"));
    dropEdge = edgeOf(crowdRun, drop, dropSettings);
    steps.push(...dropSteps(dropEdge));
    for (const step of steps) logStep(step);
  } else if (promo) {
    stage = "running the promotion's crowd";
    promoRun = await runPromo({ target, promo, crowd: scenario.promo.crowd, log });
    writeFileSync(
      acceptedFile,
      promoRun.records.flatMap((record) => (record.orderId ? [record.orderId] : [])).join("\n"),
    );
    const count = (test) =>
      Object.entries(promoRun.statuses)
        .filter(([status]) => test(Number(status)))
        .reduce((sum, [, n]) => sum + n, 0);
    const step = {
      name: "promo",
      offered: promoRun.records.length,
      achievedRps: Math.round(promoRun.records.length / promoRun.seconds),
      p50Ms: promoRun.p50Ms,
      p95Ms: promoRun.p95Ms,
      p99Ms: promoRun.p99Ms,
      mix: {
        ok: count((status) => status === 202),
        soldOut: count((status) => status === 409),
        rateLimited: count((status) => status === 429),
        clientErrors: count((status) => status >= 400 && status < 500 && status !== 409 && status !== 429),
        serverErrors: count((status) => status >= 500),
        networkErrors: count((status) => status === 0),
      },
      generatorSaturated: false,
    };
    step.errorRate = (step.mix.serverErrors + step.mix.networkErrors) / Math.max(1, step.offered);
    steps.push(step);
    logStep(step);
  } else if (prepared) {
    stage = "running the draw";
    // Under the nemesis, the kills run beside the draw; the holds are read once the last is over.
    const killing = drawSettings.kill
      ? killThroughDraw({
          api,
          local,
          draw: prepared.draw,
          expectedEntries: prepared.entrants.length * 0.83,
          log,
        })
      : null;
    killing?.catch(() => {}); // awaited below; its failure is not lost meanwhile
    const drawn = await runDraw({ api, target, prepared, settings: drawSettings, log });
    if (drawn.timedOut)
      throw new Error(`the draw was not drawn within ${drawSettings.drawDeadlineSeconds} s of its close`);
    if (killing) {
      stage = "killing the runtime through the draw";
      drawn.kills = await killing;
      log(`nemesis: ${killsLine(drawn.kills)}`);
    }
    stage = "waiting for the draw's holds to be released";
    drawRun = { drawn, ...(await settleDraw({ api, target, prepared, drawn, settings: drawSettings, log })) };
    writeFileSync(acceptedFile, drawRun.orders.join("\n"));
    steps.push(drawRun.step);
    logStep(drawRun.step);
    const late = drawn.run.records.filter((r) => missedTheClose(r.first)).length;
    if (late > 0) invalid = `${late} entrants missed the close: the entry rate fell below the estimate`;
  } else if (!scenario.restock) {
    const plan =
      scenario.phases ?? scenario.steps.map((rate) => ({ name: `${rate}/s`, rate, seconds: stepSeconds }));
    for (const phase of plan) {
      stage = `running the ${phase.name} phase (${phase.rate}/s for ${phase.seconds} s)`;
      const step = {
        name: phase.name,
        ...(await runPhase({
          target,
          flow: scenario.flow,
          rate: phase.rate,
          seconds: phase.seconds,
          workdir,
          name: phase.name.replace(/[^\w-]/g, "_"),
          env,
        })),
      };
      steps.push(step);
      logStep(step);
      if (step.generatorSaturated) {
        invalid = `the load generator could not keep up at ${phase.rate}/s; figures past this step are not the service's`;
        break;
      }
      if (scenario.steps) {
        const base = steps[0].p99Ms ?? 0;
        const healthy =
          step.errorRate < 0.001 && (step.p99Ms ?? Number.POSITIVE_INFINITY) <= Math.max(2 * base, 1);
        if (!healthy) break;
        kneeIndex = steps.length - 1;
      }
    }
  }

  let restockDrop = null;
  let restockRun = null;
  if (scenario.restock) {
    stage = "running the restock case";
    restockDrop = await setUpRestockDrop(api, scenario.restock);
    restockRun = await runRestockCase({ target, api, drop: restockDrop, settings: scenario.restock, log });
    const orders = restockRun.records.flatMap((record) => record.orders);
    appendFileSync(acceptedFile, `\n${orders.join("\n")}`);
  }

  const exited = local?.unexpectedExit?.();
  if (exited) throw new Error(`the runtime went away during the load: ${exited}`);
  stage = "draining";
  log("draining: waiting for every order to settle...");
  const drainStarted = Date.now();
  const remaining = await drain(api, {
    deadlineMs: 300_000,
    log,
    watch: [
      FLASH_SALE.sku,
      ...(drop ? [drop.sku] : []),
      ...(restockDrop ? [restockDrop.sku] : []),
      ...(promo ? [promo.sku] : []),
      ...(limited ? [limited.sku] : []),
      ...(prepared ? prepared.draw.skus : []),
    ],
  });
  const drainedAt = Date.now();
  log(`drained in ${((Date.now() - drainStarted) / 1000).toFixed(1)} s after the load ended`);
  if (remaining.pending > 0 || remaining.held > 0) {
    log(`drain deadline passed with ${remaining.pending} orders pending and ${remaining.held} units held`);
  }
  stage = "auditing";
  const result = await audit(api, { before, acceptedFile });
  if (crowdRun) {
    result.drop = auditDrop(crowdRun, await api.orders(), drop, dropSettings);
    result.drop.edge = dropEdge;
    result.drop.calibration = calibration;
    result.passed = result.passed && result.drop.passed;
  }
  if (promoRun) {
    result.promo = await auditPromo(api, promoRun, await api.orders(), promo);
    result.passed = result.passed && result.promo.passed;
  }
  if (restockRun) {
    result.restock = auditRestock(restockRun, scenario.restock);
    result.passed = result.passed && result.restock.passed;
  }
  if (drawRun) {
    const { drawn, holds, liveHolds, winnerLinks } = drawRun;
    result.draw = await auditDraw({
      api,
      target,
      draw: prepared.draw,
      run: drawn.run,
      record: drawn.record,
      holds,
      liveHolds,
      stockBefore: prepared.stockBefore,
      winnerLinks,
      kills: drawn.kills ?? null,
    });
    result.draw.timing = drawn.timing;
    result.draw.calibration = prepared.calibration;

    result.passed = result.passed && result.draw.passed;
  }
  if (chaosRun) {
    const { schedule, nemesis, bought, load } = chaosRun;
    const settled = remaining.pending === 0 && remaining.held === 0 && remaining.moving === 0;
    const { tally } = bought;
    result.chaos = {
      seed,
      schedule,
      faults: nemesis.played,
      settledSeconds: settled ? (drainedAt - nemesis.lastFaultEndedAt) / 1000 : null,
      loadEndedAfterLastFaultSeconds: (bought.endedAt - nemesis.lastFaultEndedAt) / 1000,
      // The machine's 1-minute load average as the sale began and ended (it is shared).
      loadAverage: load,
      buyers: {
        arrived: tally.buyers,
        accepted: tally.accepted.length,
        refused: tally.refused,
        retries: tally.retries,
        networkErrors: tally.networkErrors,
        networkReasons: tally.networkReasons,
        gaveUp: tally.gaveUp,
        status: tally.status,
        internalErrors: tally.internalErrors.slice(0, 20),
      },
      audit: await auditChaos(api, { limited, accepted: tally.accepted }),
    };
    result.passed = result.passed && settled && result.chaos.audit.passed;
  }
  stage = "writing the report";
  const paths = writeReport({
    scenario: name,
    target,
    ceiling,
    steps,
    kneeIndex,
    ramp: Boolean(scenario.steps),
    invalid,
    audit: result,
    startedAt,
  });
  if (kneeIndex >= 0) {
    const knee = steps[kneeIndex];
    const share = ceiling
      ? ` = ${(knee.achievedRps / ceiling.rps).toFixed(2)} of the ${ceiling.rps} req/s ceiling`
      : "";
    log(`knee: ${knee.offered} users/s, ${knee.achievedRps} req/s${share}`);
  }
  log(`report: ${paths.html} (data: ${paths.json})`);
  console.log(auditLine(result));
  if (result.drop) console.log(dropAuditLine(result.drop));
  if (result.restock) console.log(restockAuditLine(result.restock));
  if (result.promo) console.log(promoAuditLine(result.promo));
  if (result.draw) console.log(drawAuditLine(result.draw, result.draw.timing));
  if (result.draw?.kills) console.log(`draw nemesis: ${killsLine(result.draw.kills)}`);
  if (result.chaos) {
    console.log(chaosAuditLine(result.chaos));
    console.log(`seed ${seed}: replay with npm run loadtest -- ${name} --seed ${seed}`);
  }
  if (!result.passed) exitCode = 1;
  if (invalid) {
    console.log(`invalid: ${invalid}`);
    exitCode = exitCode || 3;
  }
} catch (error) {
  await fail(error);
}
await stopLocal();
// A failure reported from an unhandled rejection meanwhile keeps its exit code.
process.exit(failing ? 4 : exitCode);
