const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastTime = -1;
let timePart = "";
const randomDigits = new Uint8Array(16);

/**
 * A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32, sortable by creation time.
 * Monotonic within an isolate, as the ULID spec allows: ids of the same millisecond continue from the
 * previous one's random part plus one, so they sort in creation order and only the first id of each
 * millisecond draws random bytes (a request id is made for every request).
 */
export function ulid(now = Date.now()): string {
  if (now !== lastTime) {
    lastTime = now;
    let time = "";
    let t = now;
    for (let i = 0; i < 10; i++) {
      time = alphabet[t % 32] + time;
      t = Math.floor(t / 32);
    }
    timePart = time;
    crypto.getRandomValues(randomDigits);
    for (let i = 0; i < 16; i++) randomDigits[i] = (randomDigits[i] as number) % 32;
  } else {
    let i = 15;
    while (i >= 0 && randomDigits[i] === 31) randomDigits[i--] = 0;
    if (i >= 0) randomDigits[i] = (randomDigits[i] as number) + 1;
  }
  let rest = "";
  for (let i = 0; i < 16; i++) rest += alphabet[randomDigits[i] as number];
  return timePart + rest;
}
