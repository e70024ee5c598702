/** Clients each limiter's memory keeps as refused; the oldest make room (a flood of addresses costs little). */
const MAX_REMEMBERED = 10_000;

/** Per limiter: the clients it refused, with until when this isolate refuses them itself. */
const refusedUntil = new Map<string, Map<string, number>>();

/**
 * Asks a rate limiter binding whether `client` may go on; answers true when it is refused. A per-isolate
 * pre-check goes first: a client the limiter refused here is refused here, without asking it again,
 * for the rest of a period from that refusal. A client over its budget then costs one limiter call per
 * period per isolate rather than one per request. Only ever stricter than the limiter (a refused client
 * stays refused here at most a period longer than it might there), never looser: every client under
 * its budget still asks it, so the limit holds exactly as the binding keeps it.
 */
export async function refusedByLimiter(
  name: string,
  limiter: RateLimit,
  client: string,
  periodSeconds: number,
): Promise<boolean> {
  let refused = refusedUntil.get(name);
  if (!refused) {
    refused = new Map();
    refusedUntil.set(name, refused);
  }
  const until = refused.get(client);
  if (until !== undefined) {
    if (until > Date.now()) return true;
    refused.delete(client);
  }
  const { success } = await limiter.limit({ key: client });
  if (success) return false;
  while (refused.size >= MAX_REMEMBERED) {
    const oldest = refused.keys().next();
    if (oldest.done) break;
    refused.delete(oldest.value);
  }
  refused.set(client, Date.now() + periodSeconds * 1000);
  return true;
}
