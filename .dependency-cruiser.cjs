/**
 * The layout's rules, checked in CI (`npm run check:deps`). Folders are layered, and an import may
 * only point down:
 *
 *   src/index.ts, src/app.ts, src/early-answers.ts   the composition root: wires every folder
 *   admin/, storefront/                              the operator's and the buyer's screens
 *   ops/                                             health, docs, the sale's dashboard figures
 *   webhooks/                                        delivers the order loop's events
 *   orders/                                          the loop from checkout to paid order: the only
 *                                                    folder that orchestrates the others
 *   drops/, draws/                                   waiting rooms, passes, Turnstile; draws' entry
 *                                                    books and their proof
 *   pricing/                                         tax, shipping, discount codes: a cart's price
 *   inventory/                                       stock and allowance objects
 *   catalog/, payments/, metrics/, email/            products; payment gateways; sale counters; the mailer
 *   http/, db/                                       plumbing
 *   shared/                                          plumbing every folder may use
 *
 * Other folders reach orders/ only through orders/protocol.ts, its boundary; the composition root
 * may reach any module, since it must export the Durable Object classes and mount the routes.
 */
const ROOT = "^src/(index|app|early-answers)\\.ts$";
const above = {
  "admin|storefront": [ROOT],
  ops: [ROOT, "^src/(admin|storefront)/"],
  webhooks: [ROOT, "^src/(admin|storefront|ops)/"],
  orders: [ROOT, "^src/(admin|storefront|ops|webhooks)/"],
  "drops|draws": [ROOT, "^src/(admin|storefront|ops|webhooks|orders)/"],
  pricing: [ROOT, "^src/(admin|storefront|ops|webhooks|orders|drops|draws)/"],
  inventory: [ROOT, "^src/(admin|storefront|ops|webhooks|orders|drops|draws|pricing)/"],
  "catalog|payments|metrics|email": [
    ROOT,
    "^src/(admin|storefront|ops|webhooks|orders|drops|draws|pricing|inventory)/",
  ],
  "http|db": [
    ROOT,
    "^src/(admin|storefront|ops|webhooks|orders|drops|draws|pricing|inventory|catalog|payments|metrics|email)/",
  ],
  shared: [
    ROOT,
    "^src/(admin|storefront|ops|webhooks|orders|drops|draws|pricing|inventory|catalog|payments|metrics|email|http|db)/",
  ],
};

/** The folders of one layer may not import one another either: they are separate capabilities. */
const siblings = [
  ["admin", "storefront"],
  ["catalog", "payments", "metrics", "email"],
  ["http", "db"],
];

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A module cycle: two modules that need each other are one decision waiting to be made.",
      from: {},
      to: { circular: true },
    },
    ...Object.entries(above).map(([folders, higher]) => ({
      name: `layers: ${folders.replace("|", ", ")} import nothing above them`,
      severity: "error",
      comment: "Arrows point down: from the orchestrator to capabilities, from capabilities to plumbing.",
      from: { path: `^src/(${folders})/` },
      to: { path: higher },
    })),
    ...siblings.flatMap((group) =>
      group.map((folder) => ({
        name: `layers: ${folder} imports no folder beside it`,
        severity: "error",
        from: { path: `^src/${folder}/` },
        to: { path: `^src/(${group.filter((other) => other !== folder).join("|")})/` },
      })),
    ),
    {
      name: "orders: reached through its protocol",
      severity: "error",
      comment: "Other folders import orders/ only through orders/protocol.ts.",
      from: { path: "^src/", pathNot: ["^src/orders/", ROOT] },
      to: { path: "^src/orders/", pathNot: "^src/orders/protocol\\.ts$" },
    },
    {
      name: "source imports no tests",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^test/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, pathNot: "^cloudflare:" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|worker-configuration\\.d\\.ts)" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
