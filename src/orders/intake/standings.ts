import { AppError, type Problem } from "../../shared/errors";
import { logEvent } from "../../shared/log";
import { type KeyAnswer, STANDINGS_MAX, type StandingAsk } from "../protocol";
import { orderShard } from "../shards";

/**
 * A key's standing before a sold-out refusal, asked of its shard in batches (group commit at the
 * edge): in each isolate, one call per shard is under way at a time; the refusals that arrive
 * meanwhile wait, and go together in the next call, answered per key. At low load each goes alone, at
 * once, as it arrives; under a flood, a shard gets about one call per isolate per call's round trip
 * instead of one per refusal.
 *
 * Workers lets no request do I/O for another (and cancels a request's I/O when it ends), so each call
 * is made by a request of its own batch: the first of the batch, which awaits its own answer with the
 * others'. Every other request awaits only a promise it made itself, settled by that leader.
 *
 * What is left if the leader dies (its client went away, its isolate stalled) between two awaits: its
 * batch is never answered, and the shard's line looks busy. A line busy longer than STALL_MS no longer
 * holds new arrivals back (the next one leads, taking whoever waits), and a request waits WAIT_MS at
 * most for its answer: then it gets a 503 with Retry-After, as when a call fails. Nothing is written
 * at the edge, and the shard's answers change nothing that a retry would not ask again.
 */

/** A call under way longer than this no longer holds the next batch back. */
const STALL_MS = 1000;
/** A request waits this long at most for its batch's answer; then 503 with Retry-After. */
const WAIT_MS = 3000;

type Turn = { lead: Waiter[] } | { answer: KeyAnswer } | { failed: true };

type Waiter = { ask: StandingAsk; settle: (turn: Turn) => void };

/** Per shard in this isolate: whether a call is under way (since when, which), and who waits. */
type Line = { since: number | null; call: number; waiting: Waiter[] };

/** Per ORDERS binding (one in production; tests may wrap it), per shard number. */
const lines = new WeakMap<object, Map<number, Line>>();
let calls = 0;

function lineOf(env: Env, shard: number): Line {
  let shards = lines.get(env.ORDERS);
  if (!shards) {
    shards = new Map();
    lines.set(env.ORDERS, shards);
  }
  let line = shards.get(shard);
  if (!line) {
    line = { since: null, call: 0, waiting: [] };
    shards.set(shard, line);
  }
  return line;
}

type Stub = ReturnType<typeof orderShard>;

/** The answer when a key's standing could not be asked: no refusal may be given without it. */
export const intakeUnreachable = {
  code: "service_unavailable",
  detail: "The order intake could not be reached; nothing was held. Retry with the same Idempotency-Key.",
  headers: { "Retry-After": "1" },
} as const satisfies Problem;

const unavailable = (cause?: unknown) => new AppError("service_unavailable", { ...intakeUnreachable, cause });

/**
 * The standing of `ask`'s key on `shard`, asked with whatever else waits for the same shard. Throws a
 * 503 AppError when the call fails (each request of its batch gets it) or takes longer than WAIT_MS.
 * `stub`: the shard's stub when the caller has one already; the call is made with the leader's own.
 */
export async function keyStanding(
  env: Env,
  shard: number,
  ask: StandingAsk,
  stub?: Stub,
): Promise<KeyAnswer> {
  const line = lineOf(env, shard);
  const now = Date.now();
  // A full batch need not wait for the call under way: it goes at once, beside it.
  const full = line.waiting.length >= STANDINGS_MAX - 1;
  if (line.since !== null && now - line.since < STALL_MS && !full) {
    const turn = await waitTurn(line, ask);
    if ("answer" in turn) return turn.answer;
    if ("failed" in turn) throw unavailable();
    return lead(stub ?? orderShard(env, shard), shard, line, turn.lead);
  }
  // Nothing under way (or a stalled call, or a full batch): this request leads, with whoever waits.
  const batch = [{ ask, settle: () => {} }, ...line.waiting.splice(0, STANDINGS_MAX - 1)];
  return lead(stub ?? orderShard(env, shard), shard, line, batch);
}

/** Waits in the shard's line until answered, asked to lead, failed, or WAIT_MS. */
function waitTurn(line: Line, ask: StandingAsk): Promise<Turn> {
  return new Promise<Turn>((resolve) => {
    let done = false;
    const timer = setTimeout(() => settle({ failed: true }), WAIT_MS);
    const waiter: Waiter = { ask, settle };
    function settle(turn: Turn) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const at = line.waiting.indexOf(waiter);
      if (at !== -1) line.waiting.splice(at, 1);
      resolve(turn);
    }
    line.waiting.push(waiter);
  });
}

/**
 * Makes the call for `batch` (this request is its first) and answers every other one; then hands the
 * line to the first of those waiting, who makes the next call in its own request.
 */
async function lead(stub: Stub, shard: number, line: Line, batch: Waiter[]): Promise<KeyAnswer> {
  const call = ++calls;
  line.since = Date.now();
  line.call = call;
  try {
    const answers = await stub.refusalStandings(batch.map((waiter) => waiter.ask));
    if (answers.length !== batch.length) throw new Error("refusalStandings answered another count");
    batch.forEach((waiter, index) => {
      waiter.settle({ answer: answers[index] as KeyAnswer });
    });
    return answers[0] as KeyAnswer;
  } catch (error) {
    logEvent("error", "key standings failed", { shard, keys: batch.length, error: String(error) });
    for (const waiter of batch) waiter.settle({ failed: true });
    throw unavailable(error);
  } finally {
    handOn(line, call);
  }
}

function handOn(line: Line, call: number) {
  // A stalled call that was overtaken hands nothing on: the line is another's now.
  if (line.call !== call) return;
  line.since = null;
  const next = line.waiting.splice(0, STANDINGS_MAX);
  const [first] = next;
  if (!first) return;
  // The next leader is marked at once, so an arrival before it runs joins the line instead of leading.
  line.since = Date.now();
  line.call = ++calls;
  first.settle({ lead: next });
}
