/** Mail hosts where dots in the local part are ignored: one mailbox, many spellings. */
const DOTLESS_HOSTS = new Set(["gmail.com", "googlemail.com"]);

/**
 * Who a customer is, for limits per customer: the email, lower-cased, with a `+tag` dropped (most
 * hosts deliver `name+tag@` to `name@`), and for Gmail-style hosts without dots, googlemail folded
 * into gmail. So `Jane.Doe+drop1@GMail.com` and `janedoe@googlemail.com` are one customer.
 */
export function customerKey(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) return email.trim().toLowerCase();
  let local = email.slice(0, at).trim().toLowerCase();
  let host = email
    .slice(at + 1)
    .trim()
    .toLowerCase();
  // Nothing before the "+" folds to nothing: "+1@" and "+2@" are not two customers.
  local = local.split("+")[0] ?? "";
  if (DOTLESS_HOSTS.has(host)) {
    local = local.replaceAll(".", "");
    host = "gmail.com";
  }
  return `${local}@${host}`;
}
